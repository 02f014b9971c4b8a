// An opt-in global Response whose simple instances (string/bytes/no body) skip the platform's construction, as @hono/node-server's does.
/* A platform Response costs more to build and to read than a small handler's whole work (a ReadableStream, a
 * Headers object, promise hops per read). fromFetchHandler(app, { overrideGlobalObjects: true }) installs this
 * class as globalThis.Response: `new Response('text', init)` then only records its arguments, the adapter sends
 * them as they are, and a platform Response is built only when something else is asked of it (body, text(),
 * clone(), ...). `instanceof Response` holds both ways. */

let platform: typeof Response | undefined;
/**
 * The platform's Response, read on first need (reading globalThis.Response loads Node's fetch implementation,
 * about 2 MB of heap that an app without a fetch handler would carry, and the garbage collector mark, for nothing);
 * LightweightResponse is made its subclass then.
 */
function platformResponse(): typeof Response {
  if (platform === undefined) {
    platform = globalThis.Response;
    Object.setPrototypeOf(LightweightResponse, platform); // Response.json(), .redirect(), .error()
    Object.setPrototypeOf(LightweightResponse.prototype, platform.prototype);
  }
  return platform;
}
type BodyInit = ConstructorParameters<typeof Response>[0];
type HeadersInit = ConstructorParameters<typeof Headers>[0];

/** [status, statusText, body, headers] of a Response built from a string, bytes or nothing. */
export type ResponseCache = [number, string | undefined, string | Uint8Array | null, HeadersInit | undefined];
export const kResponseCache = Symbol('libfcgi.responseCache');
const kReal = Symbol('libfcgi.realResponse');

const DEFAULT_TEXT_TYPE = 'text/plain;charset=UTF-8';

export class LightweightResponse {
  readonly #body: BodyInit | null | undefined;
  [kResponseCache]: ResponseCache | undefined;
  [kReal]: Response | undefined;

  static [Symbol.hasInstance](value: unknown): boolean {
    // A platform Response is a Response too (fetch() returns those).
    if (this === LightweightResponse && value instanceof platformResponse()) return true;
    return Function.prototype[Symbol.hasInstance].call(this, value);
  }

  constructor(body?: BodyInit | null, init?: ResponseInit) {
    const Platform = platformResponse();
    this.#body = body;
    if ((body === undefined || body === null || typeof body === 'string' || body instanceof Uint8Array) && !(init instanceof Platform)) {
      const status = init?.status ?? 200;
      // What the platform checks at construction is checked here too, so a bad Response fails where it is made.
      if (!Number.isInteger(status) || status < 200 || status > 599)
        throw new RangeError(`init["status"] must be in the range of 200 to 599, inclusive.`);
      if (body != null && (status === 204 || status === 205 || status === 304))
        throw new TypeError('Response constructor: Invalid response status code ' + status);
      this[kResponseCache] = [status, init?.statusText, body ?? null, init?.headers];
    } else {
      this[kReal] = new Platform(body, init);
    }
  }

  /** The platform Response, built on first need; the cache (and its Headers, which may have been changed) goes. */
  #real(): Response {
    let real = this[kReal];
    if (real === undefined) {
      const cache = this[kResponseCache] as ResponseCache;
      this[kResponseCache] = undefined;
      real = this[kReal] = new (platformResponse())(this.#body, { status: cache[0], statusText: cache[1], headers: cache[3] });
    }
    return real;
  }

  get headers(): Headers {
    const cache = this[kResponseCache];
    if (cache === undefined) return this.#real().headers;
    if (!(cache[3] instanceof Headers)) {
      const headers = new Headers(cache[3]);
      if (typeof cache[2] === 'string' && !headers.has('content-type')) headers.set('content-type', DEFAULT_TEXT_TYPE);
      cache[3] = headers;
    }
    return cache[3];
  }
  get status(): number {
    return this[kResponseCache]?.[0] ?? this.#real().status;
  }
  get ok(): boolean {
    const status = this.status;
    return status >= 200 && status < 300;
  }
  get statusText(): string {
    const cache = this[kResponseCache];
    return cache !== undefined ? (cache[1] ?? '') : this.#real().statusText;
  }

  static {
    for (const key of ['body', 'bodyUsed', 'redirected', 'type', 'url']) {
      Object.defineProperty(this.prototype, key, {
        get(this: LightweightResponse) {
          return (this.#real() as unknown as Record<string, unknown>)[key];
        },
        configurable: true,
      });
    }
    for (const key of ['arrayBuffer', 'blob', 'bytes', 'clone', 'formData', 'json', 'text']) {
      Object.defineProperty(this.prototype, key, {
        value(this: LightweightResponse) {
          return (this.#real() as unknown as Record<string, () => unknown>)[key]();
        },
        configurable: true,
        writable: true,
      });
    }
    Object.defineProperty(this.prototype, Symbol.for('nodejs.util.inspect.custom'), {
      value(this: LightweightResponse, ...args: unknown[]) {
        const real = this.#real() as unknown as Record<symbol, (...a: unknown[]) => unknown>;
        return real[Symbol.for('nodejs.util.inspect.custom')](...args);
      },
      configurable: true,
    });
  }

  // The platform's statics, there before platformResponse() makes this class the platform's subclass.
  static json(data: unknown, init?: ResponseInit): Response {
    return platformResponse().json(data, init);
  }
  static redirect(url: string | URL, status?: number): Response {
    return platformResponse().redirect(url, status as Parameters<typeof Response.redirect>[1]);
  }
  static error(): Response {
    return platformResponse().error();
  }
}

/** Makes `new Response()` build LightweightResponses in this process (once; idempotent). */
export function installLightweightResponse(): void {
  platformResponse(); // the platform's, before it is replaced
  if (globalThis.Response === (LightweightResponse as unknown as typeof Response)) return;
  Object.defineProperty(globalThis, 'Response', { value: LightweightResponse, writable: true, configurable: true });
}
