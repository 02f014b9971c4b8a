// Express re-parents every request: Object.setPrototypeOf(req, app.request) and (res, app.response), then it and
// its router and middleware add properties (req.res, next, baseUrl, originalUrl, params, route, body, a router
// symbol; res.locals, statusCode). V8 (Node 20's V8 11.3) gives an object whose prototype was changed a new hidden
// class for every property added to it afterwards, on every request, so every property access Express's code makes
// on req and res misses its inline cache and takes V8's runtime lookup (on Node `http` too: about 116 such misses
// per Express request, bench/README.md). An own property that already exists when the prototype changes is only
// updated later, and the prototype change itself is cached, so the hidden classes stay the same from one request
// to the next.
//
// AppShapes learns which properties an Express app adds to req and res (from its first requests, a property once
// two of them had it, at most kMaxKeys each) and creates them on every new req and res, in the same order, before
// the app sees them: as `undefined`, or as the value the app's prototype chain gives (res.statusCode: 200), so
// reading them gives what it gave before. Only plain data properties are learned: not a name the app's prototypes define as a getter or setter
// (Express's req.query, req.ip, ...), nor a property some middleware defined as an accessor or read-only.
// What differs for the app: such a property is an own property from the start (`'body' in req` is true before
// body-parser runs, which is what body-parser itself sets up), and Object.keys(req) lists it.
import http from 'http';

const kMaxKeys = 64;
/** Requests learned from: the properties an app adds show up in its first requests (more routes, more keys). */
const kLearnRequests = 256;

type Bag = Record<PropertyKey, unknown>;

class Side {
  readonly keys: PropertyKey[] = [];
  readonly values: unknown[] = [];
  readonly #known = new Set<PropertyKey>();
  /** Keys seen on one finished object so far: learned when seen on a second (a per-request Symbol() never is). */
  readonly #seenOnce = new Set<PropertyKey>();
  #base: Set<PropertyKey> | undefined;
  readonly #proto: object;

  constructor(proto: object) {
    this.#proto = proto;
  }

  /** Creates the learned properties on a new object (after the adapter's own set-up, before the app runs). */
  prime(target: object): void {
    if (this.#base === undefined) this.#base = new Set(Reflect.ownKeys(target));
    const keys = this.keys;
    const values = this.values;
    const bag = target as Bag;
    for (let i = 0; i < keys.length; i++) bag[keys[i]] = values[i];
  }

  /** Notes the properties the app added to an object it has finished with. */
  learn(target: object): void {
    const base = this.#base;
    if (base === undefined || this.keys.length >= kMaxKeys) return;
    for (const key of Reflect.ownKeys(target)) {
      if (base.has(key) || this.#known.has(key)) continue;
      if (!this.#seenOnce.has(key)) {
        if (this.#seenOnce.size < kMaxKeys * 4) this.#seenOnce.add(key);
        continue;
      }
      this.#seenOnce.delete(key);
      this.#known.add(key); // decided once, either way
      const own = Reflect.getOwnPropertyDescriptor(target, key);
      if (own === undefined || !('value' in own) || !own.writable || !own.enumerable || !own.configurable) continue;
      const inherited = inheritedData(this.#proto, key);
      if (inherited === null) continue;
      this.keys.push(key);
      this.values.push(inherited.value);
      if (this.keys.length >= kMaxKeys) return;
    }
  }
}

/**
 * What a key reads as through a prototype chain when it is a plain data property there (or absent: undefined);
 * null when it is an accessor or read-only anywhere on it, or holds an object (a method): not to be shadowed.
 */
function inheritedData(proto: object | null, key: PropertyKey): { value: unknown } | null {
  for (let p = proto; p !== null; p = Reflect.getPrototypeOf(p)) {
    const d = Reflect.getOwnPropertyDescriptor(p, key);
    if (d === undefined) continue;
    if (!('value' in d) || !d.writable) return null;
    const v: unknown = d.value;
    if ((typeof v === 'object' && v !== null) || typeof v === 'function') return null;
    return { value: v };
  }
  return { value: undefined };
}

export class AppShapes {
  readonly #req: Side;
  readonly #res: Side;
  #learning = kLearnRequests;

  private constructor(requestProto: object, responseProto: object) {
    this.#req = new Side(requestProto);
    this.#res = new Side(responseProto);
  }

  /**
   * For a listener with Express's app.request and app.response (objects over IncomingMessage.prototype and
   * ServerResponse.prototype, which it re-parents req and res to): its shapes; undefined for any other listener.
   */
  static of(listener: unknown): AppShapes | undefined {
    const app = listener as { request?: unknown; response?: unknown };
    const rq = app.request;
    const rs = app.response;
    if (typeof rq !== 'object' || rq === null || typeof rs !== 'object' || rs === null) return undefined;
    if (!Object.prototype.isPrototypeOf.call(http.IncomingMessage.prototype, rq)) return undefined;
    if (!Object.prototype.isPrototypeOf.call(http.ServerResponse.prototype, rs)) return undefined;
    return new AppShapes(rq, rs);
  }

  prime(req: http.IncomingMessage, res: http.ServerResponse): void {
    this.#req.prime(req);
    this.#res.prime(res);
  }

  /** After the response is finished: while still learning, the properties the app added. */
  learn(req: http.IncomingMessage, res: http.ServerResponse): void {
    if (this.#learning === 0) return;
    this.#learning--;
    this.#req.learn(req);
    this.#res.learn(res);
  }
}
