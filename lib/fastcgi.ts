// FastCGI: the synchronous accept loop of Perl's FCGI and Raku's FastCGI::NativeCall, on fcgi2.
import { explainNoListenSocket, fcgiError, isErrorWithCode } from './errors';
import type { HeaderFields } from './headers';
import { normalizeListenOptions, type ListenOptions } from './listen';
import { native, type NativeAcceptLoop, type NativeAddress } from './native';
import { createRequest, kRetire, type Request, type DenyResponse, type Output, type Role } from './request';
import { kAttach } from './symbols';
import { CgiAcceptLoop, isCgiInvocation, isFastCGI } from './cgi';
import type { Env } from './env';
import { Server, type ServerRequest } from './server';
import { OperatorLoop } from './operator-loop';
import { checkSlowRequestThreshold } from './slow-log';
import { checkStatusPath, OPERATOR_KEYS, statusPage, statusRequest, type OperatorOptions, type Stats } from './stats';

/** Options of {@link FastCGI}: where to listen ({@link ListenOptions}) and the operator's options. */
export type FastCGIOptions = ListenOptions & OperatorOptions;

/**
 * The synchronous accept loop, one request at a time, as in Perl's FCGI and Raku's FastCGI::NativeCall:
 * `accept()` blocks the thread until the next request. For many requests in flight at once, without
 * blocking the event loop, use {@link createServer}.
 *
 * @example
 * ```ts
 * import { FastCGI } from 'libfcgi';
 * const fcgi = new FastCGI({ path: '/tmp/app.sock' });
 * while (fcgi.accept()) {
 *   fcgi.header({ 'Content-Type': 'text/plain' });
 *   fcgi.print(`hello ${fcgi.env.REQUEST_URI}`);
 * }
 * ```
 */
export class FastCGI {
  readonly #io: OperatorLoop;
  readonly #statusPath: string | undefined;
  readonly #slowRequestThreshold: number | undefined;
  /** The concurrent server of `for await`, once iterating. */
  #server: Server | undefined;
  #request: Request | undefined;
  /** The request finish() ended, until the next accept(): late output goes to it (ignored with a warning). */
  #finished: Request | undefined;
  #closed = false;
  #onSigterm: (() => void) | undefined;

  /**
   * Listens on `{ path }`, `{ host, port }`, `{ fd }` or `{ fdName }` (a socket systemd passed, by name); with
   * no options on the socket systemd passed (LISTEN_FDS), else on fd 0 (spawn-fcgi, mod_fcgid).
   * Throws a TypeError/RangeError for bad options and a system error (code EADDRINUSE, EEXIST, ...) when
   * the socket cannot be created.
   */
  constructor(options?: FastCGIOptions) {
    const given = options as Record<string, unknown> | undefined;
    this.#statusPath = checkStatusPath(given?.statusPath);
    this.#slowRequestThreshold = checkSlowRequestThreshold(given?.slowRequestThreshold);
    // Only operator options: listen where no options at all would (systemd's socket, else fd 0).
    if (typeof given === 'object' && given !== null && Object.keys(given).every((k) => OPERATOR_KEYS.includes(k))) options = undefined;
    const nativeOptions = normalizeListenOptions(options, OPERATOR_KEYS);
    let io: NativeAcceptLoop;
    try {
      io = new native.AcceptLoop(nativeOptions);
    } catch (err) {
      if (
        options === undefined &&
        nativeOptions.fd === 0 &&
        isErrorWithCode(err) &&
        (err.code === 'ENOTSOCK' || err.code === 'EINVAL' || err.code === 'EBADF')
      ) {
        if (isCgiInvocation()) {
          // Started as a CGI script: one request from the environment and stdin (as fcgi2 and Perl's FCGI).
          this.#io = new OperatorLoop(new CgiAcceptLoop(), this.#slowRequestThreshold);
          return;
        }
      }
      if (options === undefined && nativeOptions.fd === 0) explainNoListenSocket(err, 'FastCGI');
      throw err;
    }
    this.#io = new OperatorLoop(io, this.#slowRequestThreshold);
  }

  /**
   * The loop's counters now: connections, requests, bytes, uptime ({@link Stats}). While `for await` iterates,
   * those of the requests it serves.
   */
  stats(): Stats {
    if (this.#server !== undefined) return this.#server.stats();
    return this.#io.counters.snapshot(this.#io.stats());
  }

  /**
   * True when this process was started by a FastCGI server (fd 0 is a listening socket: spawn-fcgi,
   * mod_fcgid; or systemd passed it sockets); false when it runs as a plain CGI script or from a terminal.
   * Perl's IsFastCGI, fcgi2's !FCGX_IsCGI().
   */
  static isFastCGI(): boolean {
    return isFastCGI();
  }

  /**
   * Finishes the previous request and waits for the next. Returns false when shutdown was requested:
   * SIGTERM (a request in progress finishes first) or close(). While the loop runs, SIGTERM ends it
   * gracefully instead of killing the process.
   */
  accept(): boolean {
    this.#request?.[kRetire]();
    this.#request = undefined;
    this.#finished = undefined;
    if (this.#closed) return false;
    this.#watchSigterm();
    for (;;) {
      if (!this.#io.accept()) {
        this.#closed = true;
        this.#unwatchSigterm();
        return false;
      }
      const status = this.#statusPath === undefined ? undefined : statusRequest(this.#io.params(), this.#statusPath);
      if (status === undefined) break;
      this.#io.write(statusPage(this.stats(), status, 'libfcgi accept loop'));
      this.#io.finish(); // answered here: the application never sees it
    }
    this.#request = createRequest(this.#io);
    return true;
  }

  /** The current request (also reachable through the members below). */
  get request(): Request {
    if (this.#request === undefined) {
      throw fcgiError(
        'FCGI_NO_REQUEST',
        this.#finished !== undefined
          ? 'the request is finished (finish() was called): call accept() for the next one'
          : 'no current request: call accept() first',
      );
    }
    return this.#request;
  }

  /** Output members reach the finished request too (ignored there, with a warning), not an exception. */
  get #output(): Request {
    return this.#request ?? this.#finished ?? this.request;
  }

  /** The current request's params: {@link Request.env}. Throws (code FCGI_NO_REQUEST) outside a request. */
  get env(): Env {
    return this.request.env;
  }
  /** One param of the current request, or undefined: {@link Request.param}. */
  param(name: string): string | undefined {
    return this.request.param(name);
  }
  /** The current request's role: {@link Request.role}. */
  get role(): Role {
    return this.request.role;
  }
  /** The current request's query string parsed ({@link Request.query}). */
  get query(): URLSearchParams {
    return this.request.query;
  }
  /** The current request's cookies ({@link Request.cookies}). */
  get cookies(): Readonly<Record<string, string>> {
    return this.request.cookies;
  }
  /** Reads the current request's urlencoded form body ({@link Request.form}). */
  form(limit?: number): URLSearchParams {
    return this.request.form(limit);
  }
  /** Adds response header fields to the current request ({@link Request.header}); chainable. */
  header(fields: HeaderFields): this {
    this.#output.header(fields);
    return this;
  }
  /** Sets the current response's Status ({@link Request.status}); chainable. */
  status(code: number, reason?: string): this {
    this.#output.status(code, reason);
    return this;
  }
  /** Writes body output to the current request ({@link Request.print}); false when the web server is gone. */
  print(data: Output): boolean {
    return this.#output.print(data);
  }
  /** Reads the current request's body ({@link Request.read}): up to `max` bytes, or all that is left. */
  read(max?: number): Buffer {
    return this.request.read(max);
  }
  /** Reads the FILTER role's FCGI_DATA stream of the current request ({@link Request.readData}). */
  readData(max?: number): Buffer {
    return this.request.readData(max);
  }
  /** AUTHORIZER: allows the current request, passing `Variable-NAME` fields on ({@link Request.allow}). */
  allow(variables?: Readonly<Record<string, string | number>>): this {
    this.request.allow(variables);
    return this;
  }
  /** AUTHORIZER: denies the current request with this status, head and body ({@link Request.deny}). */
  deny(status?: number, response?: DenyResponse): this {
    this.request.deny(status, response);
    return this;
  }
  /** Writes to FCGI_STDERR of the current request ({@link Request.error}). */
  error(data: Output): boolean {
    return this.#output.error(data);
  }
  /** Sends what the current request has buffered now ({@link Request.flush}). */
  flush(): boolean {
    return this.#output.flush();
  }
  /** Ends the current request now ({@link Request.finish}); does nothing outside a request. */
  finish(): void {
    if (this.#request === undefined) return;
    this.#request.finish();
    this.#finished = this.#request;
    this.#request = undefined;
  }

  /**
   * `for await (const req of fcgi)`: the same loop without blocking the event loop. Requests come one at a
   * time (the previous one is finished when the next is asked for); waiting happens on a native thread.
   * Ends on SIGTERM or close(); breaking out of the loop closes the socket.
   */
  [Symbol.asyncIterator](): AsyncIterator<ServerRequest> {
    if (this.#request !== undefined || this.#closed) {
      throw fcgiError('FCGI_CLOSED', 'for await needs an open accept loop with no request in progress from accept()');
    }
    const ready: ServerRequest[] = [];
    const waiting: ((r: IteratorResult<ServerRequest>) => void)[] = [];
    let release: (() => void) | undefined;
    let done = false;
    const server = new Server(
      (req) =>
        new Promise<void>((resolve) => {
          release = resolve;
          const w = waiting.shift();
          if (w) w({ value: req, done: false });
          else ready.push(req);
        }),
      { concurrency: 1, statusPath: this.#statusPath, slowRequestThreshold: this.#slowRequestThreshold },
    );
    this.#server = server;
    server.on('close', () => {
      done = true;
      this.#closed = true;
      this.#io.close();
      for (const w of waiting.splice(0)) w({ value: undefined, done: true });
    });
    server[kAttach](this.#io.raw);
    return {
      next: () => {
        release?.(); // the consumer moved on: finish the previous request
        release = undefined;
        const req = ready.shift();
        if (req) return Promise.resolve({ value: req, done: false });
        if (done) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve) => waiting.push(resolve));
      },
      return: async () => {
        release?.();
        release = undefined;
        await server.close();
        return { value: undefined, done: true };
      },
    };
  }

  /**
   * The listening socket's file descriptor in this process (-1 once closed), e.g. to hand it to child
   * processes as their fd 0, as spawn-fcgi does.
   */
  get fd(): number {
    return this.#io.fd();
  }

  /** Where it listens. */
  address(): NativeAddress | null {
    return this.#io.address();
  }

  /**
   * Perl's LastCall(): the current request goes on to its end as usual, then the loop ends as on SIGTERM: no
   * new connections are taken, accept() returns true for each one already queued in the listen backlog, then
   * false (the socket is closed and a unix socket file we created is removed).
   */
  lastCall(): void {
    this.#io.requestShutdown();
  }

  /** Finishes the current request, stops listening and removes the unix socket file. */
  close(): void {
    this.#request?.[kRetire]();
    this.#request = undefined;
    this.#closed = true;
    this.#unwatchSigterm();
    this.#io.close();
  }

  // While accept() blocks, native code sees SIGTERM (through libuv, no handler of ours). This listener covers
  // the times the event loop turns: an app that awaits inside the loop (the next accept() returns false), or
  // one that left the loop without close() (SIGTERM must still end it: close, then the default action).
  #watchSigterm(): void {
    if (this.#onSigterm) return;
    this.#onSigterm = () => {
      if (this.#request !== undefined) {
        this.#io.requestShutdown();
        return;
      }
      this.close();
      if (process.listenerCount('SIGTERM') === 0) process.kill(process.pid, 'SIGTERM');
    };
    process.on('SIGTERM', this.#onSigterm);
  }

  #unwatchSigterm(): void {
    if (this.#onSigterm) process.removeListener('SIGTERM', this.#onSigterm);
    this.#onSigterm = undefined;
  }
}
