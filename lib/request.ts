// Request: one FastCGI request of the synchronous accept loop (env, head, body in and out) over native I/O.
import { findParam, parseParams, type Env } from './env';
import { argTypeError, fcgiError, warnFinished } from './errors';
import { ResponseHead, type HeaderFields } from './headers';
import type { NativeAcceptLoop } from './native';

export type Role = 'RESPONDER' | 'AUTHORIZER' | 'FILTER';
export type Output = string | Uint8Array;

/** Internal: ends a Request's life when the loop moves on (not exported from the package). */
export const kRetire = Symbol('retire');

function checkOutput(name: string, data: unknown): asserts data is Output {
  if (typeof data !== 'string' && !(data instanceof Uint8Array)) throw argTypeError(name, 'a string, Buffer or Uint8Array', data);
}

export class Request {
  readonly #io: NativeAcceptLoop;
  readonly #head = new ResponseHead();
  #env: Env | undefined;
  #params: string | undefined;
  #live = true;

  /** @internal created by FastCGI.accept() */
  constructor(io: NativeAcceptLoop) {
    this.#io = io;
  }

  #warned = false;

  #check(): void {
    if (!this.#live) throw fcgiError('FCGI_NO_REQUEST', 'this request is finished: its members cannot be used any more');
  }

  /** Output on a finished request: false (ignored) and one warning for this request; true when live. */
  #canOutput(method: string): boolean {
    if (this.#live) return true;
    if (!this.#warned) {
      this.#warned = true;
      warnFinished(method, this.#params !== undefined ? findParam(this.#params, 'REQUEST_URI') : undefined);
    }
    return false;
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
    this.#sendHead();
    this.#live = false;
  }
}
