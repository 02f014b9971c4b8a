// FastCGIRequest: the request vocabulary the accept loop's Request and the concurrent server's ServerRequest share.
import { argTypeError, warnFinished } from './errors';
import type { Env } from './env';
import type { HeaderFields } from './headers';

/** The FastCGI role the web server asked for in FCGI_BEGIN_REQUEST (nginx and Apache send RESPONDER). */
export type Role = 'RESPONDER' | 'AUTHORIZER' | 'FILTER';
/** Output to the web server: strings are sent as UTF-8, bytes as they are. */
export type Output = string | Uint8Array;

/** What an AUTHORIZER's deny() sends to the client besides the status. */
export interface DenyResponse {
  /** Header fields sent to the client with the denial (e.g. `WWW-Authenticate`). */
  headers?: HeaderFields;
  /** The body sent to the client. */
  body?: Output;
}

/**
 * What a request of the accept loop ({@link Request}) and of the concurrent server ({@link ServerRequest}) have
 * in common, with one meaning per name: the accept loop's names are the contract (fcgi2's FCGX calls, the
 * FastCGI::NativeCall mirror) and the server follows them. Code written against this interface runs on both.
 *
 * Where the two must differ:
 * - **Blocking vs backpressure.** On `Request`, `print()` and `flush()` block until libfcgi's buffer is out
 *   (so there is no backpressure to signal). On `ServerRequest` they never block: output is buffered and a
 *   native thread writes it; `writableNeedDrain` turns true over `highWaterMark`, and `await drain()` waits.
 *   In both, `print()`, `error()` and `flush()` return `false` only when the output was not accepted (the
 *   request is finished, or the web server is gone).
 * - **Params after the end.** `Request` reads its params from the loop's current FCGX_Request, which the next
 *   accept() reuses: after `finish()` they throw `FCGI_NO_REQUEST`. A `ServerRequest` owns its params: they
 *   stay readable (a response logger reads them after the response went out).
 * - **Body.** `Request.read()` blocks and returns bytes; `ServerRequest` streams it (`body`, `bytes()`, `text()`).
 */
export interface FastCGIRequest {
  /** The request's params (CGI environment), e.g. `env.REQUEST_METHOD`; values are bytes as latin1 strings. */
  readonly env: Env;
  /** One param, or undefined (without building env). */
  param(name: string): string | undefined;
  /** The FastCGI role of the request. */
  readonly role: Role;
  /** The query string (QUERY_STRING) parsed; computed on first use. */
  readonly query: URLSearchParams;
  /** The Cookie header parsed (values URL-decoded, the first of repeated names wins); computed on first use. */
  readonly cookies: Readonly<Record<string, string>>;
  /** True when the web server dropped the request (FCGI_ABORT_REQUEST, client gone, a failed write). */
  readonly aborted: boolean;
  /** True once the request is finished: its END_REQUEST is sent or on its way. */
  readonly finished: boolean;
  /** Adds response header fields (sent once, before the first body byte); arrays give repeated fields. */
  header(fields: HeaderFields): this;
  /** Sets the response Status (reason defaults to the standard text). */
  status(code: number, reason?: string): this;
  /**
   * Body output (strings as UTF-8). Without header()/status() it is raw CGI output. Returns `false` when the
   * output was not accepted: the web server is gone, or the request is finished (ignored, warned once).
   */
  print(data: Output): boolean;
  /** Writes to FCGI_STDERR (the web server's error log); `false` as for print(). */
  error(data: Output): boolean;
  /** Sends what is buffered (and the head) now; `false` as for print(). */
  flush(): boolean;
  /** AUTHORIZER role: lets the request through, passing `Variable-NAME` fields to the protected app. */
  allow(variables?: Readonly<Record<string, string | number>>): this;
  /** AUTHORIZER role: refuses the request with `status` (default 403), header fields and body. */
  deny(status?: number, response?: DenyResponse): this;
  /** The exit status reported in END_REQUEST (as a CGI program's exit code). */
  setExitStatus(status: number): void;
  /** Ends the request now: the web server gets the response. */
  finish(): void;
}

/** @internal Throws the Node-style TypeError for output that is neither a string nor bytes. */
export function checkOutput(name: string, data: unknown): asserts data is Output {
  if (typeof data !== 'string' && !(data instanceof Uint8Array)) throw argTypeError(name, 'a string, Buffer or Uint8Array', data);
}

/**
 * @internal Output on a finished request, on either request type: ignored, with one warning per request
 * naming its URI (a forgotten timer must not throw and end the process with every other request in flight).
 */
export class LateOutput {
  #warned = false;
  /** True when `live`; else warns once for this request (uri is read only then) and returns false. */
  accepts(live: boolean, method: string, uri: () => string | undefined): boolean {
    if (live) return true;
    if (!this.#warned) {
      this.#warned = true;
      warnFinished(method, uri());
    }
    return false;
  }
}

/** @internal `query` on either request type: QUERY_STRING parsed. */
export function parseQuery(param: (name: string) => string | undefined): URLSearchParams {
  return new URLSearchParams(param('QUERY_STRING') ?? '');
}
