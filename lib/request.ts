// Request: one FastCGI request of the synchronous accept loop (env, head, body in and out) over native I/O.
import { parseCookies } from './adapters/cgi-http';
import { findParam, parseParams, type Env } from './env';
import { argRangeError, argTypeError, fcgiError, type LibfcgiError } from './errors';
import { ResponseHead, type HeaderFields } from './headers';
import type { NativeAcceptLoop } from './native';

export type Role = 'RESPONDER' | 'AUTHORIZER' | 'FILTER';
export type Output = string | Uint8Array;

/** Internal: ends a Request's life when the loop moves on (not exported from the package). */
export const kRetire = Symbol('retire');

function checkOutput(name: string, data: unknown): asserts data is Output {
  if (typeof data !== 'string' && !(data instanceof Uint8Array)) throw argTypeError(name, 'a string, Buffer or Uint8Array', data);
}

const DEFAULT_FORM_LIMIT = 1 << 20;

function tooLarge(limit: number): LibfcgiError {
  const err = fcgiError('FCGI_BODY_TOO_LARGE', `request body over the limit of ${limit} bytes`);
  (err as LibfcgiError & { status: number }).status = 413;
  return err;
}

export class Request {
  readonly #io: NativeAcceptLoop;
  readonly #head = new ResponseHead();
  #env: Env | undefined;
  #params: string | undefined;
  #query: URLSearchParams | undefined;
  #cookies: Readonly<Record<string, string>> | undefined;
  #live = true;

  /** @internal created by FastCGI.accept() */
  constructor(io: NativeAcceptLoop) {
    this.#io = io;
  }

  #check(): void {
    if (!this.#live) throw fcgiError('FCGI_NO_REQUEST', 'this request is finished: its members cannot be used any more');
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

  get role(): Role {
    this.#check();
    return this.#io.role() as Role;
  }

  /** The query string (QUERY_STRING) parsed; computed on first use. */
  get query(): URLSearchParams {
    this.#check();
    return (this.#query ??= new URLSearchParams(this.param('QUERY_STRING') ?? ''));
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
    if (Number(this.param('CONTENT_LENGTH')) > limit) throw tooLarge(limit);
    const body = this.#io.read(limit + 1);
    if (body.length > limit) throw tooLarge(limit);
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
    this.#check();
    this.#head.add(fields);
    return this;
  }

  /** Sets the Status field (reason defaults to the standard text). */
  status(code: number, reason?: string): this {
    this.#check();
    this.#head.setStatus(code, reason);
    return this;
  }

  /**
   * Body output: strings as UTF-8, bytes as they are. Without header() the output is raw CGI output (the
   * script writes its own headers). Returns false when the web server is gone (the request is then lost;
   * nothing throws, the next accept() goes on).
   */
  print(data: Output): boolean {
    this.#check();
    checkOutput('data', data);
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

  /** Writes to FCGI_STDERR (the web server's error log). */
  error(data: Output): boolean {
    this.#check();
    checkOutput('data', data);
    return this.#io.writeError(data);
  }

  /** Sends what is buffered (and the head) to the web server now. */
  flush(): boolean {
    this.#check();
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
    this.#sendHead();
    this.#live = false;
  }
}
