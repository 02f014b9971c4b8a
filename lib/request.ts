// Request: one FastCGI request of the synchronous accept loop (env, head, body in and out) over native I/O.
import { parseCookies } from './adapters/cgi-http';
import { findParam, parseParams, type Env } from './env';
import { argRangeError, argTypeError, bodyTooLargeError, fcgiError } from './errors';
import { ResponseHead, type HeaderFields } from './headers';
import type { NativeAcceptLoop } from './native';
import { checkOutput, LateOutput, parseQuery, type DenyResponse, type FastCGIRequest, type Output, type Role } from './request-api';

export type { DenyResponse, FastCGIRequest, Output, Role } from './request-api';

/** @internal allow() on either request type: status 200 and a Variable-NAME field per variable. */
export function headForAllow(head: ResponseHead, variables: Readonly<Record<string, string | number>>): void {
  head.add(authorizerVariables(variables));
  head.setStatus(200);
}

/** @internal deny() on either request type: checks the arguments, sets the head; returns the body to print. */
export function headForDeny(head: ResponseHead, status: number, response: DenyResponse): Output | undefined {
  checkDenyStatus(status);
  const { headers = {}, body } = checkDenyResponse(response);
  head.add(headers);
  head.setStatus(status);
  return body;
}

/** @internal Variable-NAME fields of an AUTHORIZER's allow(). */
export function authorizerVariables(variables: Readonly<Record<string, string | number>>): Record<string, string | number> {
  if (typeof variables !== 'object' || variables === null || Array.isArray(variables))
    throw argTypeError('variables', 'an object', variables);
  const fields: Record<string, string | number> = {};
  for (const [name, value] of Object.entries(variables)) fields[`Variable-${name}`] = value;
  return fields;
}

/** @internal */
export function checkDenyStatus(status: unknown): asserts status is number {
  if (typeof status !== 'number') throw argTypeError('status', 'of type number', status);
  if (!Number.isInteger(status) || status < 100 || status > 999 || status === 200) {
    throw argRangeError('status', 'an integer from 100 to 999 other than 200 (200 allows)', status);
  }
}

/** @internal */
export function checkDenyResponse(response: unknown): DenyResponse {
  if (typeof response !== 'object' || response === null || Array.isArray(response)) throw argTypeError('response', 'an object', response);
  const { body } = response as DenyResponse;
  if (body !== undefined) checkOutput('response.body', body);
  return response;
}

/** @internal Makes the Request of the accept loop's current request (FastCGI.accept()); not exported from the package. */
// Assigned once, by Request's static block (the only code that may call its private constructor).
export let createRequest: (io: NativeAcceptLoop) => Request;

/** Internal: ends a Request's life when the loop moves on (not exported from the package). */
export const kRetire = Symbol('retire');

const DEFAULT_FORM_LIMIT = 1 << 20;

/**
 * One request of the synchronous accept loop: its params (`env`), its body (`read()`), and the response
 * (`header()`, `status()`, `print()`). Made by {@link FastCGI.accept}; valid until the loop accepts the next
 * request or `finish()` is called, after which every member but `finished` throws an error with code
 * `FCGI_NO_REQUEST`.
 *
 * @example
 * ```ts
 * const fcgi = new FastCGI({ path: '/tmp/app.sock' });
 * while (fcgi.accept()) {
 *   const req = fcgi.request;
 *   req.status(200).header({ 'Content-Type': 'text/plain' });
 *   req.print(`you asked for ${req.env.REQUEST_URI}`);
 * }
 * ```
 */
export class Request implements FastCGIRequest {
  readonly #io: NativeAcceptLoop;
  readonly #head = new ResponseHead();
  #env: Env | undefined;
  #params: string | undefined;
  #query: URLSearchParams | undefined;
  #cookies: Readonly<Record<string, string>> | undefined;
  #live = true;

  /** Made by FastCGI.accept() only (through the module-internal createRequest). */
  private constructor(io: NativeAcceptLoop) {
    this.#io = io;
  }

  static {
    createRequest = (io) => new Request(io);
  }

  readonly #late = new LateOutput();

  #check(): void {
    if (!this.#live) throw fcgiError('FCGI_NO_REQUEST', 'this request is finished: its members cannot be used any more');
  }

  /** Output on a finished request: false (ignored) and one warning for this request; true when live. */
  #canOutput(method: string): boolean {
    return this.#late.accepts(this.#live, method, () => (this.#params !== undefined ? findParam(this.#params, 'REQUEST_URI') : undefined));
  }

  /** The request's params (CGI environment), e.g. env.REQUEST_METHOD. Values are bytes as latin1 strings. */
  get env(): Env {
    this.#check();
    return (this.#env ??= parseParams(this.#joinedParams()));
  }

  /** One param, or undefined (without building env). */
  param(name: string): string | undefined {
    this.#check();
    return this.#env !== undefined ? this.#env[name] : findParam(this.#joinedParams(), name);
  }

  #joinedParams(): string {
    return (this.#params ??= this.#io.params());
  }

  /** The role of this request: RESPONDER, AUTHORIZER or FILTER (unknown roles are refused before the app sees them). */
  get role(): Role {
    this.#check();
    return this.#io.role() as Role;
  }

  /** The query string (QUERY_STRING) parsed; computed on first use. */
  get query(): URLSearchParams {
    this.#check();
    return (this.#query ??= parseQuery((name) => this.param(name)));
  }

  /** The Cookie header parsed (values URL-decoded, the first of repeated names wins); computed on first use. */
  get cookies(): Readonly<Record<string, string>> {
    this.#check();
    return (this.#cookies ??= parseCookies(this.param('HTTP_COOKIE')));
  }

  /**
   * An application/x-www-form-urlencoded body, read (what is left of it) and parsed. Over `limit` bytes (default
   * 1 MiB) it throws FCGI_BODY_TOO_LARGE before parsing; another content type is a TypeError.
   */
  form(limit = DEFAULT_FORM_LIMIT): URLSearchParams {
    this.#check();
    if (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 0) throw argRangeError('limit', 'a non-negative integer', limit);
    const type = this.param('CONTENT_TYPE') ?? '';
    if (!/^\s*application\/x-www-form-urlencoded\s*(?:;|$)/i.test(type)) {
      throw new TypeError(`form(): the request's Content-Type is ${JSON.stringify(type)}, not application/x-www-form-urlencoded`);
    }
    if (Number(this.param('CONTENT_LENGTH')) > limit) throw bodyTooLargeError(limit);
    const body = this.#io.read(limit + 1);
    if (body.length > limit) throw bodyTooLargeError(limit);
    return new URLSearchParams(body.toString('utf8'));
  }

  /**
   * True when the web server aborted this request (FCGI_ABORT_REQUEST, client gone) or reading/writing it
   * failed: read() then returns what had arrived, print() returns false.
   */
  get aborted(): boolean {
    this.#check();
    return this.#io.aborted();
  }

  /** True once the request is finished (finish(), or the loop accepted the next one). */
  get finished(): boolean {
    return !this.#live;
  }

  /** Adds header fields; sent once, before the first body byte. Arrays give repeated fields. */
  header(fields: HeaderFields): this {
    if (!this.#canOutput('header')) return this;
    this.#head.add(fields);
    return this;
  }

  /** Sets the Status field (reason defaults to the standard text). */
  status(code: number, reason?: string): this {
    if (!this.#canOutput('status')) return this;
    this.#head.setStatus(code, reason);
    return this;
  }

  /**
   * Body output: strings as UTF-8, bytes as they are. Without header() the output is raw CGI output (the
   * script writes its own headers). Returns false when the web server is gone (the request is then lost;
   * nothing throws, the next accept() goes on), and on a finished request (ignored, warned once).
   */
  print(data: Output): boolean {
    checkOutput('data', data);
    if (!this.#canOutput('print')) return false;
    const head = this.#head;
    if (!head.sent) {
      if (!head.used) {
        head.markRaw();
      } else if (typeof data === 'string') {
        return this.#io.write(head.take() + data); // one native call for head and body
      } else if (!this.#io.write(head.take())) {
        return false;
      }
    }
    return this.#io.write(data);
  }

  /** Request body (FCGI_STDIN): up to max bytes, or everything left when max is omitted; empty at the end. */
  read(max?: number): Buffer {
    this.#check();
    if (max === undefined) return this.#io.read();
    if (typeof max !== 'number' || !Number.isInteger(max) || max < 0) throw argTypeError('max', 'a non-negative integer', max);
    return this.#io.read(max);
  }

  /**
   * FILTER role: the file to filter (FCGI_DATA), up to max bytes, or everything left when max is omitted; empty
   * at the end, and for the other roles. Its size and mtime are in env.FCGI_DATA_LENGTH and FCGI_DATA_LAST_MOD.
   * The web server sends it after the body: reading it skips what is left of the body.
   */
  readData(max?: number): Buffer {
    this.#check();
    if (max === undefined) return this.#io.readData();
    if (typeof max !== 'number' || !Number.isInteger(max) || max < 0) throw argTypeError('max', 'a non-negative integer', max);
    return this.#io.readData(max);
  }

  /**
   * AUTHORIZER role: lets the request through. The response is status 200 with a `Variable-NAME: value` field
   * per variable, which the web server passes on to the protected app (as NAME in its environment).
   */
  allow(variables: Readonly<Record<string, string | number>> = {}): this {
    this.#check();
    headForAllow(this.#head, variables);
    return this;
  }

  /**
   * AUTHORIZER role: refuses the request. The status (default 403) with its header fields and body goes to
   * the client, e.g. deny(401, { headers: { 'WWW-Authenticate': 'Basic realm="x"' }, body: 'who are you?' }).
   */
  deny(status = 403, response: DenyResponse = {}): this {
    this.#check();
    const body = headForDeny(this.#head, status, response);
    if (body !== undefined) this.print(body);
    return this;
  }

  /** Writes to FCGI_STDERR (the web server's error log). */
  error(data: Output): boolean {
    checkOutput('data', data);
    if (!this.#canOutput('error')) return false;
    return this.#io.writeError(data);
  }

  /** Sends what is buffered (and the head) to the web server now. */
  flush(): boolean {
    if (!this.#canOutput('flush')) return false;
    this.#sendHead();
    return this.#io.flush();
  }

  /** The exit status reported in END_REQUEST (as a CGI program's exit code). */
  setExitStatus(status: number): void {
    this.#check();
    if (!Number.isInteger(status)) throw argTypeError('status', 'an integer', status);
    this.#io.setExitStatus(status);
  }

  /** Ends the request now: the web server gets the response; the loop's next accept() waits for a new one. */
  finish(): void {
    if (!this.#live) return;
    this[kRetire]();
    this.#io.finish();
  }

  #sendHead(): void {
    if (this.#head.used && !this.#head.sent) this.#io.write(this.#head.take());
  }

  /** @internal the head goes out even when no body was printed; then the request is dead to its holder. */
  [kRetire](): void {
    if (!this.#live) return;
    if (!this.#head.used && !this.#head.sent && this.#io.role() === 'AUTHORIZER') {
      this.#head.setStatus(403); // an authorizer that answered nothing denies (an empty response reads as 200)
    }
    this.#sendHead();
    this.#live = false;
  }
}
