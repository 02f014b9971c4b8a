// Fetch handlers ((Request) => Response: Hono's app.fetch, any Web-standard router) over createServer; bodies stream both ways.
import { Readable } from 'stream';
import type { ReadableStreamReadResult } from 'stream/web';
import { argTypeError } from '../errors';
import type { ServerRequest } from '../server';
import { installLightweightResponse, kResponseCache, type ResponseCache } from './lightweight-response';
import { normalizeMountPath, rawHeaders, requestHref, requestParams, type MountOptions } from './cgi-http';

/** What the adapter passes as a fetch handler's second argument (Hono: `c.env`). */
export interface FetchEnv {
  /** The FastCGI request: params (`fcgi.param('SCRIPT_FILENAME')`), `error()` to the web server's log. */
  readonly fcgi: ServerRequest;
}

/** A fetch handler: takes a Web `Request` (and the FastCGI request as `env.fcgi`), returns a `Response`. */
export type FetchHandler = (request: Request, env: FetchEnv) => Response | Promise<Response>;

/** A Hono app or anything else with a `fetch` method. */
export interface FetchApp {
  /** The app's fetch handler, called with `this` = the app. */
  fetch: FetchHandler | ((request: Request, ...rest: never[]) => Response | Promise<Response>);
}

/** Options of {@link fromFetchHandler}. */
export interface FetchAdapterOptions extends MountOptions {
  /**
   * Replace globalThis.Response with a lightweight class (as @hono/node-server does by default): a Response
   * made from a string, bytes or nothing then costs next to nothing and is sent as it is. Default false: the
   * adapter changes no global unless asked.
   */
  readonly overrideGlobalObjects?: boolean;
}

const kSource = Symbol('fcgi request');
const kUrl = Symbol('url');
const kHeaders = Symbol('headers');
const kReal = Symbol('real Request');
const kBodyUsed = Symbol('body used');

interface LazyRequest extends Request {
  [kSource]: ServerRequest;
  [kUrl]: string;
  [kHeaders]: Headers | undefined;
  [kReal]: Request | undefined;
  [kBodyUsed]: boolean;
}

function hasBody(req: ServerRequest, method: string): boolean {
  return method !== 'GET' && method !== 'HEAD' && req.param('CONTENT_LENGTH') !== '0';
}

function buildHeaders(req: ServerRequest): Headers {
  const headers = new Headers();
  const raw = rawHeaders(requestParams(req));
  for (let i = 0; i < raw.length; i += 2) {
    try {
      headers.append(raw[i], raw[i + 1]);
    } catch {
      // A name or value fetch refuses (a web server passed something odd): left out rather than failing the request.
    }
  }
  return headers;
}

/** The platform Request behind a lazy one, built on first need (body stream, clone(), formData(), ...). */
function realRequest(lazy: LazyRequest): Request {
  let real = lazy[kReal];
  if (real === undefined) {
    const req = lazy[kSource];
    const method = lazy.method;
    const init: RequestInit & { duplex?: 'half' } = { method, headers: lazy.headers, signal: req.signal };
    if (hasBody(req, method) && !lazy[kBodyUsed]) {
      init.body = Readable.toWeb(req.body);
      init.duplex = 'half';
    }
    real = lazy[kReal] = new Request(lazy[kUrl], init);
  }
  return real;
}

function bodyAlreadyUsed(): TypeError {
  return new TypeError('Body is unusable: Body has already been read');
}

/** Reads the whole body without a platform Request (a small body came with the request: no stream at all). */
async function readBody(lazy: LazyRequest): Promise<Buffer> {
  if (lazy[kReal] !== undefined) return Buffer.from(await lazy[kReal].arrayBuffer());
  if (lazy[kBodyUsed]) throw bodyAlreadyUsed();
  lazy[kBodyUsed] = true;
  const req = lazy[kSource];
  return hasBody(req, lazy.method) ? req.bytes(Number.MAX_SAFE_INTEGER) : Buffer.alloc(0);
}

/**
 * The prototype of the adapter's Requests: `instanceof Request` holds, method/url/headers/signal come straight
 * from the params (headers built on first use), text()/json()/arrayBuffer()/bytes() read the body directly, and
 * everything else is served by a platform Request built on first need. This is what @hono/node-server does:
 * building a platform Request costs more than a small handler does.
 */
let lazyRequestPrototype: object | undefined;
/** Built on the first request (reading Request.prototype loads Node's fetch implementation: see platformResponse). */
function makeLazyRequestPrototype(): object {
  const proto: object = Object.create(Request.prototype) as object;
  for (const key of Object.getOwnPropertyNames(Request.prototype)) {
    if (key === 'constructor') continue;
    const d = Object.getOwnPropertyDescriptor(Request.prototype, key) as PropertyDescriptor;
    if (d.get) {
      Object.defineProperty(proto, key, {
        get(this: LazyRequest) {
          return (realRequest(this) as unknown as Record<string, unknown>)[key];
        },
        configurable: true,
      });
    } else if (typeof d.value === 'function') {
      Object.defineProperty(proto, key, {
        value(this: LazyRequest, ...args: unknown[]) {
          const real = realRequest(this) as unknown as Record<string, (...a: unknown[]) => unknown>;
          return real[key](...args);
        },
        configurable: true,
        writable: true,
      });
    }
  }
  // util.inspect(request) and console.log show the platform Request.
  const inspectSymbol = Symbol.for('nodejs.util.inspect.custom');
  Object.defineProperty(proto, inspectSymbol, {
    value(this: LazyRequest, ...args: unknown[]) {
      const real = realRequest(this) as unknown as Record<symbol, (...a: unknown[]) => unknown>;
      return real[inspectSymbol](...args);
    },
    configurable: true,
  });
  Object.defineProperties(proto, {
    method: {
      get(this: LazyRequest) {
        return this[kSource].param('REQUEST_METHOD') || 'GET';
      },
    },
    url: {
      get(this: LazyRequest) {
        return this[kUrl];
      },
    },
    headers: {
      get(this: LazyRequest) {
        return (this[kHeaders] ??= buildHeaders(this[kSource]));
      },
    },
    signal: {
      get(this: LazyRequest) {
        return this[kReal]?.signal ?? this[kSource].signal;
      },
    },
    bodyUsed: {
      get(this: LazyRequest) {
        return this[kReal] !== undefined ? this[kReal].bodyUsed : this[kBodyUsed];
      },
    },
    arrayBuffer: {
      async value(this: LazyRequest) {
        const bytes = await readBody(this);
        return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
      },
    },
    bytes: {
      async value(this: LazyRequest) {
        return new Uint8Array(await readBody(this));
      },
    },
    text: {
      async value(this: LazyRequest) {
        return (await readBody(this)).toString('utf8');
      },
    },
    json: {
      async value(this: LazyRequest) {
        return JSON.parse((await readBody(this)).toString('utf8')) as unknown;
      },
    },
  });
  return proto;
}

/**
 * The fetch `Request` for a FastCGI request: URL from scheme, host and REQUEST_URI (see cgi-http.ts), headers
 * from HTTP_* and CONTENT_*, the body streamed from `req.body` (never buffered here), `signal` = `req.signal`.
 * `mountPath` must be normalised (normalizeMountPath). It is a Request (instanceof holds) built lazily; pass it
 * to `new Request()` through `request.clone()`.
 */
export function toFetchRequest(req: ServerRequest, mountPath = ''): Request {
  const lazy = Object.create((lazyRequestPrototype ??= makeLazyRequestPrototype())) as LazyRequest;
  lazy[kSource] = req;
  lazy[kUrl] = requestHref((name) => req.param(name), mountPath);
  lazy[kHeaders] = undefined;
  lazy[kReal] = undefined;
  lazy[kBodyUsed] = false;
  return lazy;
}

/**
 * Response headers not passed on: Set-Cookie comes from getSetCookie() (never joined); a "Status" field would be
 * taken as the CGI status; hop-by-hop fields belong to the web server's connection with the client (Hono's
 * streamSSE sets Transfer-Encoding: chunked, but the FastCGI body is not chunked: the web server frames it).
 */
const SKIPPED_HEADERS = new Set(['set-cookie', 'status', 'transfer-encoding', 'connection', 'keep-alive']);

/** A body's byte length, as Node's http writes it for `res.end(data)` and @hono/node-server for a string body. */
function byteLength(body: string | Uint8Array): number {
  return typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength;
}

/** Statuses whose responses have no body and no Content-Length of their own. */
function bodiless(status: number): boolean {
  return status === 204 || status === 304;
}

/**
 * How long a read may take and still count as "the body is already there": a few microtask hops (a string, bytes,
 * a Blob, URLSearchParams or FormData body reads in 1 to 6), never a timer or I/O.
 */
const EAGER_TICKS = 8;
/** At most this many reads before the head goes out (a long stream that is fast to produce is sent as a stream). */
const EAGER_READS = 8;

function afterTicks(n: number): Promise<undefined> {
  let p: Promise<undefined> = Promise.resolve(undefined);
  for (let i = 1; i < n; i++) p = p.then(() => undefined);
  return p;
}

/**
 * Sends a fetch `Response` as the FastCGI response: status and statusText as `Status:`, every header (each
 * Set-Cookie as its own field), the body streamed with backpressure (print, then drain when it says so). A body
 * whose end is already there (a string, bytes, a Blob: it ends within a few microtasks) gets a Content-Length
 * when the app gave none, so the web server can frame it as it is instead of chunk-encoding it to the client.
 */
export async function sendFetchResponse(req: ServerRequest, response: Response, isHead = false): Promise<void> {
  if (!(response instanceof Response)) {
    throw argTypeError('response', 'a Response (what a fetch handler returns)', response);
  }
  const cache = (response as unknown as { [kResponseCache]?: ResponseCache })[kResponseCache];
  if (cache !== undefined) return sendCachedResponse(req, cache, isHead);
  const fields: Record<string, string | string[]> = {};
  response.headers.forEach((value, name) => {
    if (!SKIPPED_HEADERS.has(name)) fields[name] = value;
  });
  const cookies = response.headers.getSetCookie();
  if (cookies.length > 0) fields['set-cookie'] = cookies;
  req.status(response.status, response.statusText || undefined);
  const body = response.body as ReadableStream<Uint8Array> | null; // typed ReadableStream<any> by undici
  if (body === null) {
    if (!isHead && !bodiless(response.status) && fields['content-length'] === undefined) fields['content-length'] = '0';
    req.header(fields);
    return;
  }
  // HEAD gets the head only (a Response cannot have a body with 204 or 304: its constructor throws).
  if (isHead) {
    req.header(fields);
    await body.cancel().catch(() => undefined);
    return;
  }
  const reader = body.getReader();
  try {
    // The chunks that are already there, read before the head: if the body ends among them, its length is known.
    const ready: Uint8Array[] = [];
    let pending: Promise<ReadableStreamReadResult<Uint8Array>> | undefined;
    let ended = false;
    if (fields['content-length'] === undefined && !response.headers.has('transfer-encoding')) {
      for (let i = 0; i < EAGER_READS && !ended; i++) {
        pending ??= reader.read();
        const result = await Promise.race([pending, afterTicks(EAGER_TICKS)]);
        if (result === undefined) break; // not there yet: a stream
        pending = undefined;
        if (result.done) ended = true;
        else ready.push(result.value);
      }
      if (ended) fields['content-length'] = String(ready.reduce((n, chunk) => n + chunk.byteLength, 0));
    }
    req.header(fields);
    for (const chunk of ready) if (chunk.byteLength > 0) req.print(chunk);
    if (ended) return;
    if (req.writableNeedDrain && !req.aborted) await req.drain();
    for (;;) {
      const { done, value } = await (pending ?? reader.read());
      pending = undefined;
      if (done) return;
      if (req.aborted) break;
      if (value.byteLength > 0) req.print(value);
      if (req.writableNeedDrain) await req.drain();
    }
  } catch (err) {
    if (!req.aborted) throw err;
  }
  // The web server dropped the request: stop the producer (a stream's cancel callback runs).
  await reader.cancel(req.signal.reason).catch(() => undefined);
}

/** A LightweightResponse's recorded arguments, sent without building a platform Response. */
function sendCachedResponse(req: ServerRequest, [status, statusText, body, init]: ResponseCache, isHead: boolean): void {
  let fields: Record<string, string | string[]>;
  if (init === undefined) {
    fields = typeof body === 'string' ? { 'content-type': 'text/plain;charset=UTF-8' } : {};
  } else if (
    !(init instanceof Headers) &&
    !Array.isArray(init) &&
    Object.values(init).every((v) => typeof v === 'string' && !/^\s|\s$/.test(v))
  ) {
    fields = {};
    let hasType = false;
    for (const name of Object.keys(init)) {
      const lower = name.toLowerCase();
      if (lower === 'content-type') hasType = true;
      if (!SKIPPED_HEADERS.has(lower)) fields[lower] = (init as Record<string, string>)[name];
      else if (lower === 'set-cookie') fields[lower] = [(init as Record<string, string>)[name]];
    }
    if (!hasType && typeof body === 'string') fields['content-type'] = 'text/plain;charset=UTF-8';
  } else {
    const headers = init instanceof Headers ? init : new Headers(init);
    fields = {};
    headers.forEach((value, name) => {
      if (!SKIPPED_HEADERS.has(name)) fields[name] = value;
    });
    const cookies = headers.getSetCookie();
    if (cookies.length > 0) fields['set-cookie'] = cookies;
    if (typeof body === 'string' && !headers.has('content-type')) fields['content-type'] = 'text/plain;charset=UTF-8';
  }
  // The body is all here: its length goes with it (HEAD: the length a GET would get; no body: 0, not on HEAD,
  // whose null body (Hono answers HEAD that way) says nothing about the GET's).
  if (fields['content-length'] === undefined) {
    if (body !== null) fields['content-length'] = String(byteLength(body));
    else if (!isHead && !bodiless(status)) fields['content-length'] = '0';
  }
  req.status(status, statusText || undefined);
  req.header(fields);
  if (!isHead && body !== null && body.length > 0) req.print(body);
}

/**
 * A createServer handler that serves a fetch handler or an app with `.fetch` (Hono):
 * `createServer(fromFetchHandler(app))`. A handler that throws or rejects gets a 500 and the server goes on.
 */
export function fromFetchHandler(app: FetchHandler | FetchApp, options: FetchAdapterOptions = {}): (req: ServerRequest) => Promise<void> {
  let handler: FetchHandler;
  if (typeof app === 'function') {
    handler = app;
  } else if (typeof app === 'object' && app !== null && typeof app.fetch === 'function') {
    const fetch = app.fetch as FetchHandler;
    handler = (request, env) => fetch.call(app, request, env);
  } else {
    throw argTypeError('app', 'a fetch handler (request: Request) => Response, or an object with a fetch method (a Hono app)', app);
  }
  if (typeof options !== 'object' || options === null) throw argTypeError('options', 'an object', options);
  const mountPath = normalizeMountPath(options.mountPath, 'options.mountPath');
  if (options.overrideGlobalObjects !== undefined && typeof options.overrideGlobalObjects !== 'boolean') {
    throw argTypeError('options.overrideGlobalObjects', 'a boolean', options.overrideGlobalObjects);
  }
  if (options.overrideGlobalObjects === true) installLightweightResponse();
  return async (req) => {
    const request = toFetchRequest(req, mountPath);
    const response = await handler(request, { fcgi: req });
    await sendFetchResponse(req, response, request.method === 'HEAD');
  };
}
