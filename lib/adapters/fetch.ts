// Fetch handlers ((Request) => Response: Hono's app.fetch, any Web-standard router) over createServer; bodies stream both ways.
import { Readable } from 'stream';
import { argTypeError } from '../errors';
import type { ServerRequest } from '../server';
import { cgiToHttp, normalizeMountPath, requestParams, type MountOptions } from './cgi-http';

/** What the adapter passes as a fetch handler's second argument (Hono: `c.env`). */
export interface FetchEnv {
  /** The FastCGI request: params (`fcgi.param('SCRIPT_FILENAME')`), `error()` to the web server's log. */
  readonly fcgi: ServerRequest;
}

export type FetchHandler = (request: Request, env: FetchEnv) => Response | Promise<Response>;

/** A Hono app or anything else with a `fetch` method. */
export interface FetchApp {
  fetch: FetchHandler | ((request: Request, ...rest: never[]) => Response | Promise<Response>);
}

export type FetchAdapterOptions = MountOptions;

/**
 * The fetch `Request` for a FastCGI request: URL from scheme, host and REQUEST_URI (see cgi-http.ts), headers
 * from HTTP_* and CONTENT_*, the body streamed from `req.body` (never buffered here), `signal` = `req.signal`.
 * `mountPath` must be normalised (normalizeMountPath).
 */
export function toFetchRequest(req: ServerRequest, mountPath = ''): Request {
  const info = cgiToHttp(requestParams(req), mountPath);
  const headers = new Headers();
  const raw = info.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    try {
      headers.append(raw[i], raw[i + 1]);
    } catch {
      // A name or value fetch refuses (a web server passed something odd): left out rather than failing the request.
    }
  }
  const method = info.method;
  const hasBody = method !== 'GET' && method !== 'HEAD' && req.param('CONTENT_LENGTH') !== '0';
  const init: RequestInit & { duplex?: 'half' } = { method, headers, signal: req.signal };
  if (hasBody) {
    init.body = Readable.toWeb(req.body) as unknown as ReadableStream<Uint8Array>;
    init.duplex = 'half';
  }
  return new Request(info.href, init);
}

/**
 * Response headers not passed on: Set-Cookie comes from getSetCookie() (never joined); a "Status" field would be
 * taken as the CGI status; hop-by-hop fields belong to the web server's connection with the client (Hono's
 * streamSSE sets Transfer-Encoding: chunked, but the FastCGI body is not chunked: the web server frames it).
 */
const SKIPPED_HEADERS = new Set(['set-cookie', 'status', 'transfer-encoding', 'connection', 'keep-alive']);

/**
 * Sends a fetch `Response` as the FastCGI response: status and statusText as `Status:`, every header (each
 * Set-Cookie as its own field), the body streamed with backpressure (print, then drain when it says so).
 */
export async function sendFetchResponse(req: ServerRequest, response: Response, isHead = false): Promise<void> {
  if (!(response instanceof Response)) {
    throw argTypeError('response', 'a Response (what a fetch handler returns)', response);
  }
  const fields: Record<string, string | string[]> = {};
  response.headers.forEach((value, name) => {
    if (!SKIPPED_HEADERS.has(name)) fields[name] = value;
  });
  const cookies = response.headers.getSetCookie();
  if (cookies.length > 0) fields['set-cookie'] = cookies;
  req.status(response.status, response.statusText || undefined);
  req.header(fields);
  const body = response.body;
  if (body === null) return;
  // A Response cannot have a body with 204 or 304 (its constructor throws); HEAD gets the head only.
  if (isHead) {
    await body.cancel().catch(() => undefined);
    return;
  }
  const reader = body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      if (req.aborted) break;
      if (value.byteLength > 0 && !req.print(value)) await req.drain();
    }
  } catch (err) {
    if (!req.aborted) throw err;
  }
  // The web server dropped the request: stop the producer (a stream's cancel callback runs).
  await reader.cancel(req.signal.reason).catch(() => undefined);
}

/**
 * A createServer handler that serves a fetch handler or an app with `.fetch` (Hono):
 * `createServer(fromFetchHandler(app))`. A handler that throws or rejects gets a 500 and the server goes on.
 */
export function fromFetchHandler(app: FetchHandler | FetchApp, options: FetchAdapterOptions = {}): (req: ServerRequest) => Promise<void> {
  let handler: FetchHandler;
  if (typeof app === 'function') {
    handler = app;
  } else if (typeof app === 'object' && app !== null && typeof (app as FetchApp).fetch === 'function') {
    const fetch = (app as FetchApp).fetch as FetchHandler;
    handler = (request, env) => fetch.call(app, request, env);
  } else {
    throw argTypeError('app', 'a fetch handler (request: Request) => Response, or an object with a fetch method (a Hono app)', app);
  }
  if (typeof options !== 'object' || options === null) throw argTypeError('options', 'an object', options);
  const mountPath = normalizeMountPath(options.mountPath, 'options.mountPath');
  return async (req) => {
    const request = toFetchRequest(req, mountPath);
    const response = await handler(request, { fcgi: req });
    await sendFetchResponse(req, response, request.method === 'HEAD');
  };
}
