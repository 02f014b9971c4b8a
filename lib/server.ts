// The concurrent server: handlers run on the JS thread; accept and all socket I/O on the addon's threads.
import { EventEmitter } from 'events';
import { Readable, Writable } from 'stream';
import { normalizeMountPath, parseCookies, requestHref, type MountOptions } from './adapters/cgi-http';
import { fromFetchHandler, toFetchRequest, type FetchApp } from './adapters/fetch';
import { isMainThread } from 'worker_threads';
import { findParam, parseParams, type Env } from './env';
import {
  argRangeError,
  argTypeError,
  bodyTooLargeError,
  explainNoListenSocket,
  fcgiError,
  invalidJsonError,
  isErrorWithCode,
  type LibfcgiError,
} from './errors';
import { ResponseHead, type HeaderFields } from './headers';
import { normalizeListenOptions, type ListenOptions } from './listen';
import {
  INDEXED_PARAMS,
  MAX_SLOTS,
  ServerEventKind,
  native,
  type NativeAcceptLoop,
  type NativeAddress,
  type NativeServerIo,
  type NativeStats,
  type ServerEvent,
  type ServerEventHandler,
} from './native';
import type { NativeListenOptions } from './listen';
import { headForAllow, headForDeny } from './request';
import { checkOutput, LateOutput, parseQuery, type DenyResponse, type FastCGIRequest, type Output, type Role } from './request-api';
import { kAbortHook, kAttach, kJoinedParams, kNativeFactory, kParamIndex, kTakeWholeBody } from './symbols';
import { CgiAcceptLoop, CgiServerIo, isCgiInvocation } from './cgi';
import { fromNodeListener, isNodeListener, type NodeListener } from './adapters/node-http';
import { checkSlowRequestThreshold, slowLine } from './slow-log';
import { checkStatusPath, Counters, statusPage, statusRequest, type OperatorOptions, type Stats } from './stats';

/** A param index's value start for a param the web server did not send (native/request.h kParamAbsent). */
const PARAM_ABSENT = 0xffff;

/** Options of {@link createServer}; every one is optional. Bad values throw TypeError/RangeError naming the option. */
export interface ServerOptions extends OperatorOptions {
  /**
   * Requests in flight at once (native threads). Default 64: idle threads sleep (no CPU), and 64 absorbs 32
   * peers stalling in their params (each holds a worker for at most readTimeout) while others are served.
   */
  concurrency?: number;
  /** Largest body text()/bytes()/json() accept; over it they throw FCGI_BODY_TOO_LARGE (answered 413). Default 1 MiB. */
  bodyLimit?: number;
  /** Output buffered per request before writableNeedDrain turns true and drain() waits. Default 1 MiB. */
  highWaterMark?: number;
  /** How long close() lets requests in flight finish before cutting them, in ms. Default 10000. */
  closeTimeout?: number;
  /** SIGTERM calls close() (default true). */
  handleSignals?: boolean;
}

/**
 * The request handler of {@link createServer}: called once per request; may be async. The request finishes
 * when it returns (or its promise settles) unless the response is still being streamed through `stdout`;
 * a throw or rejection answers 500 (413 for FCGI_BODY_TOO_LARGE) when nothing was sent yet.
 */
export type Handler = (req: ServerRequest) => unknown;

const DEFAULT_CONCURRENCY = 64;
const DEFAULT_BODY_LIMIT = 1 << 20;
const DEFAULT_HIGH_WATER_MARK = 1 << 20;
const DEFAULT_CLOSE_TIMEOUT = 10_000;
const WATCHDOG_MARGIN_MS = 500;
const FLUSH_AT = 64 * 1024; // pending output beyond this goes to the worker at once
const READ_CHUNK = 64 * 1024;

const REASONS: Record<number, string> = { 400: 'Bad Request', 413: 'Content Too Large', 500: 'Internal Server Error' };

/** The status for an error that is the client's doing (answered without a stack trace), else undefined. */
function clientErrorStatus(err: unknown): number | undefined {
  if (isErrorWithCode(err, 'FCGI_BODY_TOO_LARGE')) return 413;
  if (isErrorWithCode(err, 'FCGI_INVALID_JSON')) return 400;
  return undefined;
}

/** Makes the native side of a Server; the default is the addon's; tests pass a fake through {@link kNativeFactory}. */
export type NativeFactory = (
  source: NativeListenOptions | NativeAcceptLoop,
  concurrency: number,
  onEvent: ServerEventHandler,
) => NativeServerIo;

/** Internal surface between Server and ServerRequest (not exported from the package). */
interface RequestHost {
  readonly io: NativeServerIo;
  readonly bodyLimit: number;
  readonly highWaterMark: number;
  requestDone(req: ServerRequest): void;
}

/** Requests whose scheduled flush runs at the end of this macrotask (ServerRequest.scheduleFlush). */
let flushQueue: ServerRequest[] = [];
function runFlushQueue(): void {
  const queue = flushQueue;
  flushQueue = [];
  for (const req of queue) requestControl.runScheduledFlush(req);
}

/**
 * What Server calls on a ServerRequest, bound to its #private members by the class's static block: module-private,
 * so the public types show none of it (issue 14).
 */
interface RequestControl {
  create(
    host: RequestHost,
    slot: number,
    generation: number,
    params: string,
    role: string,
    prefetched?: Buffer,
    prefetchedAll?: boolean,
    index?: string,
  ): ServerRequest;
  slot(req: ServerRequest): number;
  generation(req: ServerRequest): number;
  setInHandlerCall(req: ServerRequest, on: boolean): void;
  fail(req: ServerRequest, err: unknown): void;
  onData(req: ServerRequest, chunk: Buffer, eof: boolean, filterData: boolean): void;
  onWritten(req: ServerRequest, total: number): void;
  onAborted(req: ServerRequest): void;
  scheduleFlush(req: ServerRequest, watchPeer: boolean): void;
  runScheduledFlush(req: ServerRequest): void;
}
let requestControl: RequestControl;

/**
 * One request of the concurrent server: the accept loop's vocabulary ({@link FastCGIRequest}, same meaning per
 * name), plus streams, backpressure (`writableNeedDrain`, `drain()`) and body helpers.
 */
export class ServerRequest implements FastCGIRequest {
  readonly #host: RequestHost;
  readonly #slot: number;
  readonly #params: string;
  /** Where the indexed params sit in #params ({@link kParamIndex}), when the native side sent it. */
  readonly #index: string | undefined;
  readonly #role: Role;
  readonly #head = new ResponseHead();
  #env: Env | undefined;
  #url: URL | undefined;
  #query: URLSearchParams | undefined;
  #cookies: Readonly<Record<string, string>> | undefined;
  #pending: (string | Uint8Array)[] = [];
  #pendingBytes = 0;
  #flushScheduled = false;
  /** Output was handed to the worker since the last flush: some of it may still sit in fcgi2's stream buffer. */
  #unflushed = false;
  #watchPeer = false;
  /** @internal called once when the request is aborted (the Node-listener adapter: cheaper than an AbortSignal). */
  [kAbortHook]: (() => void) | undefined = undefined;
  /** True while the handler's synchronous part runs: output then waits for its return. */
  #inHandlerCall = false;
  #sent = 0; // bytes handed to the worker
  /** @internal output handed to the worker so far (stats' bytesOut) */
  get bytesSent(): number {
    return this.#sent;
  }
  #written = 0; // bytes the worker reported written
  #drainWaiters: (() => void)[] = [];
  #ended = false;
  #aborted = false;
  #controller: AbortController | undefined;
  #body: Readable | undefined;
  #data: Readable | undefined;
  #stdout: Writable | undefined;
  #exitStatus = 0;
  /** Which request of the native slot this is. */
  readonly #generation: number;

  /** Start of the body read with the request (a small declared body), until the body stream takes it. */
  #prefetched: Buffer | undefined;
  #prefetchedAll = false;
  #bodyTaken = false;

  /**
   * This request's handle for the native side: slot and generation in one number (slot + MAX_SLOTS × generation), so
   * a command for a request that already ended (say, end() after close() cut it) can never reach the next
   * request of the same slot.
   */
  readonly #id: number;

  /** Made by Server only (through the module-private requestControl). */
  private constructor(
    host: RequestHost,
    slot: number,
    generation: number,
    params: string,
    role: string,
    prefetched?: Buffer,
    prefetchedAll = false,
    index?: string,
  ) {
    this.#host = host;
    this.#slot = slot;
    this.#generation = generation;
    this.#id = slot + MAX_SLOTS * generation;
    this.#params = params;
    this.#index = index;
    this.#role = role as Role;
    this.#prefetched = prefetched;
    this.#prefetchedAll = prefetched !== undefined && prefetchedAll;
  }

  readonly #late = new LateOutput();
  /** Output on a finished request: false (ignored) and one warning for this request; true when live. */
  #canOutput(method: string): boolean {
    return this.#late.accepts(!this.#ended, method, () => this.param('REQUEST_URI'));
  }

  /** The request's params (CGI environment), e.g. `env.REQUEST_METHOD`; values are bytes as latin1 strings. */
  get env(): Env {
    return (this.#env ??= parseParams(this.#params));
  }
  /** @internal the params as received ("NAME=value\0..."): the adapters read the headers from it without env */
  get [kJoinedParams](): string {
    return this.#params;
  }
  /** @internal where the params the adapters read sit in the joined params, when known */
  get [kParamIndex](): string | undefined {
    return this.#index;
  }
  /** One param, or undefined (without building env). */
  param(name: string): string | undefined {
    if (this.#env !== undefined) return this.#env[name];
    const index = this.#index;
    if (index !== undefined) {
      const k = INDEXED_PARAMS.get(name);
      if (k !== undefined) {
        // Sliced where the native side found it: no search of the string.
        const start = index.charCodeAt(1 + k);
        return start === PARAM_ABSENT ? undefined : this.#params.slice(start, index.charCodeAt(1 + index.charCodeAt(0) + k));
      }
    }
    return findParam(this.#params, name);
  }
  /** The FastCGI role of the request (RESPONDER, AUTHORIZER or FILTER). */
  get role(): Role {
    return this.#role;
  }

  // Helpers for apps without a framework: each is computed on first use only (the hot path never pays for them).

  /** The request's absolute URL: scheme (HTTPS/REQUEST_SCHEME), host (Host, else SERVER_NAME:PORT), REQUEST_URI. */
  get url(): URL {
    return (this.#url ??= new URL(requestHref((name) => this.param(name))));
  }
  /** The query string (QUERY_STRING) parsed. */
  get query(): URLSearchParams {
    return (this.#query ??= parseQuery((name) => this.param(name)));
  }
  /** The Cookie header parsed (values URL-decoded; the first of repeated names wins), by the `cookie` package. */
  get cookies(): Readonly<Record<string, string>> {
    return (this.#cookies ??= parseCookies(this.param('HTTP_COOKIE')));
  }
  /**
   * The body as FormData (urlencoded or multipart/form-data, parsed by the platform's fetch), read whole within
   * `limit` (default: the server's bodyLimit; over it FCGI_BODY_TOO_LARGE, answered 413). Another content
   * type: a TypeError.
   */
  async formData(limit?: number): Promise<FormData> {
    const type = this.param('CONTENT_TYPE') ?? '';
    if (!/^\s*(?:application\/x-www-form-urlencoded|multipart\/form-data)\s*(?:;|$)/i.test(type)) {
      throw new TypeError(
        `formData(): the request's Content-Type is ${JSON.stringify(type)}, not application/x-www-form-urlencoded or multipart/form-data`,
      );
    }
    const body = await this.bytes(limit);
    return new Request('http://localhost/', { method: 'POST', headers: { 'content-type': type }, body }).formData();
  }
  /**
   * The request as a fetch `Request` (what fetch handlers take): headers from the params, the body streamed
   * from `body`, `signal` = this request's signal. `mountPath` is cut off the URL as fromFetchHandler does.
   */
  toRequest(options: MountOptions = {}): Request {
    return toFetchRequest(this, normalizeMountPath(options.mountPath, 'options.mountPath'));
  }

  /** True once the request ended (its END_REQUEST is sent or queued); later output is ignored (warned once). */
  get finished(): boolean {
    return this.#ended;
  }
  /** True once the web server dropped the request (client gone, FCGI_ABORT_REQUEST, write error). */
  get aborted(): boolean {
    return this.#aborted;
  }
  /** Aborts when the web server drops the request: pass it to fetch(), timers, database calls. */
  get signal(): AbortSignal {
    this.#controller ??= new AbortController();
    if (this.#aborted && !this.#controller.signal.aborted) this.#controller.abort(this.#abortError());
    return this.#controller.signal;
  }

  /** Adds response header fields (sent once, before the first body byte); arrays give repeated fields. Chainable. */
  header(fields: HeaderFields): this {
    if (!this.#canOutput('header')) return this;
    this.#head.add(fields);
    return this;
  }
  /** Sets the response Status (reason defaults to the standard text); chainable. */
  status(code: number, reason?: string): this {
    if (!this.#canOutput('status')) return this;
    this.#head.setStatus(code, reason);
    return this;
  }
  /** The status set so far (200 when none). */
  get statusCode(): number {
    return this.#head.statusCode;
  }
  /** True once the response head went out (or raw output started). */
  get headersSent(): boolean {
    return this.#head.sent;
  }

  /**
   * Body output (strings as UTF-8), buffered and sent by a native thread. Returns false, as on the accept
   * loop's Request, only when the data was dropped: after an abort, or on a finished request (with one warning
   * naming the request). Backpressure is `writableNeedDrain` (then `await req.drain()`).
   */
  print(data: Output): boolean {
    checkOutput('data', data);
    if (!this.#canOutput('print') || this.#aborted) return false;
    if (!this.#head.sent) {
      if (this.#head.used) this.#queue(this.#head.take());
      else this.#head.markRaw();
    }
    this.#queue(data);
    const buffered = this.#sent - this.#written + this.#pendingBytes;
    // In the synchronous part of a handler, output waits for its return (to go out with END_REQUEST in one
    // write) up to highWaterMark; later it goes to the worker once FLUSH_AT bytes are pending, and all of it
    // reaches the web server after this macrotask, as Node's res.write() does (issue 11).
    if (this.#pendingBytes >= (this.#inHandlerCall ? this.#host.highWaterMark : FLUSH_AT)) {
      this.#flush(buffered > this.#host.highWaterMark);
    }
    if (!this.#inHandlerCall) this.#scheduleFlush();
    return true;
  }

  /**
   * True while more than highWaterMark bytes of output wait to be written (as on a Node Writable): stop
   * printing and `await req.drain()`.
   */
  get writableNeedDrain(): boolean {
    return !this.#ended && !this.#aborted && this.#sent - this.#written + this.#pendingBytes > this.#host.highWaterMark;
  }

  /** FCGI_STDERR (the web server's error log). False when dropped (aborted or finished request). */
  error(data: Output): boolean {
    checkOutput('data', data);
    if (!this.#canOutput('error') || this.#aborted) return false;
    this.#host.io.writeError(this.#id, data);
    return true;
  }

  /** Sends buffered output (and the head) now. False when dropped (aborted or finished request). */
  flush(): boolean {
    if (!this.#canOutput('flush')) return false;
    if (!this.#head.sent && this.#head.used) this.#queue(this.#head.take());
    this.#flush(false);
    this.#unflushed = false;
    if (this.#aborted) return false;
    this.#host.io.flush(this.#id);
    return true;
  }

  /** Resolves once buffered output is below highWaterMark (at once when it is, or after an abort). */
  drain(): Promise<void> {
    if (this.#ended || this.#aborted || this.#sent - this.#written + this.#pendingBytes <= this.#host.highWaterMark) {
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      this.#drainWaiters.push(resolve);
      this.#flush(true);
    });
  }

  /** The exit status reported in END_REQUEST (as a CGI program's exit code). Throws a TypeError for a non-integer. */
  setExitStatus(status: number): void {
    if (!Number.isInteger(status)) throw argTypeError('status', 'an integer', status);
    this.#exitStatus = status;
  }

  /** The request body (FCGI_STDIN) as a stream with backpressure: bytes are read only as you consume them. */
  get body(): Readable {
    if (this.#body === undefined) {
      const io = this.#host.io;
      const id = this.#id;
      const body = new Readable({
        highWaterMark: READ_CHUNK,
        read: () => {
          if (this.#ended) body.push(null);
          else if (this.#aborted) body.destroy(this.#abortError());
          else io.read(id, READ_CHUNK);
        },
      });
      this.#body = body;
      const first = this.#prefetched;
      if (first !== undefined) {
        this.#prefetched = undefined;
        if (first.length > 0) body.push(first);
        if (this.#prefetchedAll) body.push(null);
      } else if (this.#bodyTaken) {
        body.push(null); // bytes() took the whole body already
      }
    }
    return this.#body;
  }

  /**
   * FILTER role: the file to filter (FCGI_DATA) as a stream with backpressure; an empty stream for the other
   * roles. Its size and mtime are in env.FCGI_DATA_LENGTH and FCGI_DATA_LAST_MOD. The web server sends it
   * after the body: once it is read from, the body stream ends (what was left of the body is skipped).
   */
  get data(): Readable {
    if (this.#data === undefined) {
      const io = this.#host.io;
      const id = this.#id;
      const data = new Readable({
        highWaterMark: READ_CHUNK,
        read: () => {
          if (this.#ended || this.#role !== 'FILTER') data.push(null);
          else if (this.#aborted) data.destroy(this.#abortError());
          else io.read(id, READ_CHUNK, true);
        },
      });
      this.#data = data;
    }
    return this.#data;
  }

  /**
   * AUTHORIZER role: lets the request through. The response is status 200 with a `Variable-NAME: value` field
   * per variable, which the web server passes on to the protected app (as NAME in its environment).
   */
  allow(variables: Readonly<Record<string, string | number>> = {}): this {
    if (!this.#canOutput('allow')) return this;
    headForAllow(this.#head, variables);
    return this;
  }

  /**
   * AUTHORIZER role: refuses the request. The status (default 403) with its header fields and body goes to
   * the client, e.g. deny(401, { headers: { 'WWW-Authenticate': 'Basic realm="x"' }, body: 'who are you?' }).
   */
  deny(status = 403, response: DenyResponse = {}): this {
    if (!this.#canOutput('deny')) return this;
    const body = headForDeny(this.#head, status, response);
    if (body !== undefined) this.print(body);
    return this;
  }

  /**
   * @internal the whole body when it came with the request and nothing has read it yet; it is then taken (body
   * and bytes() find it consumed). The Node-listener adapter pushes it into its IncomingMessage at once.
   */
  [kTakeWholeBody](): Buffer | undefined {
    const whole = this.#prefetchedAll && this.#body === undefined && !this.#bodyTaken && !this.#aborted ? this.#prefetched : undefined;
    if (whole !== undefined) {
      this.#prefetched = undefined;
      this.#bodyTaken = true;
    }
    return whole;
  }

  /** The whole body as bytes; throws FCGI_BODY_TOO_LARGE (answered 413) over `limit` (default: the server's bodyLimit). */
  async bytes(limit = this.#host.bodyLimit): Promise<Buffer> {
    if (this.#bodyTaken) return Buffer.alloc(0); // consumed, as a second read of the stream would find it
    const whole = this.#prefetchedAll && this.#body === undefined ? this.#prefetched : undefined;
    if (whole !== undefined && !this.#aborted) {
      // The whole (small) body came with the request: no stream needed.
      if (whole.length > limit) throw bodyTooLargeError(limit);
      this.#prefetched = undefined;
      this.#bodyTaken = true; // the body getter now gives an ended stream
      return whole;
    }
    const declared = Number(this.param('CONTENT_LENGTH'));
    if (declared > limit) throw bodyTooLargeError(limit);
    const chunks: Buffer[] = [];
    let total = 0;
    for await (const chunk of this.body) {
      total += (chunk as Buffer).length;
      if (total > limit) throw bodyTooLargeError(limit);
      chunks.push(chunk as Buffer);
    }
    return chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, total);
  }
  /** The whole body as UTF-8 text; limits as {@link ServerRequest.bytes}. */
  async text(limit?: number): Promise<string> {
    return (await this.bytes(limit)).toString('utf8');
  }
  /** The body parsed as JSON; an empty or malformed body throws FCGI_INVALID_JSON (answered 400 if uncaught). */
  async json<T = unknown>(limit?: number): Promise<T> {
    const text = await this.text(limit);
    try {
      return JSON.parse(text) as T;
    } catch (err) {
      throw invalidJsonError(err);
    }
  }

  /** The response body as a Writable (for stream.pipeline); ending it flushes, returning from the handler finishes. */
  get stdout(): Writable {
    this.#stdout ??= new Writable({
      highWaterMark: this.#host.highWaterMark,
      write: (chunk: Buffer, _enc, cb) => {
        if (this.#aborted || this.#ended) return cb(this.#abortError());
        this.print(chunk);
        if (!this.writableNeedDrain) cb();
        else this.drain().then(() => cb(this.#aborted ? this.#abortError() : null), cb);
      },
      final: (cb) => {
        if (!this.#ended) this.flush();
        cb();
      },
    });
    return this.#stdout;
  }

  /** Ends the request now (returning from the handler does the same). */
  finish(): void {
    if (this.#ended) return;
    if (!this.#head.used && !this.#head.sent && this.#role === 'AUTHORIZER') {
      this.#head.setStatus(403); // an authorizer that answered nothing denies (an empty response reads as 200)
    }
    this.#ended = true;
    if (!this.#head.sent && this.#head.used) this.#queue(this.#head.take());
    const data = this.#takePending();
    // An aborted request (or one that failed after output) ends with a cut connection, never an orderly
    // END_REQUEST that would make a truncated response look complete.
    this.#host.io.end(this.#id, this.#aborted ? undefined : data, this.#exitStatus, this.#aborted);
    this.#resolveDrain();
    this.#body?.push(null);
    this.#data?.push(null);
    this.#host.requestDone(this);
  }

  /** The handler failed: answer `status` if nothing went out yet, log to FCGI_STDERR. */
  #fail(err: unknown): void {
    if (this.#ended) return;
    const status = clientErrorStatus(err) ?? 500;
    if (!this.#aborted) {
      // A client's mistake (bad JSON, too large a body) is one line in the web server's log; an app's bug
      // gets its stack trace.
      const text = status !== 500 && err instanceof Error ? err.message : err instanceof Error ? (err.stack ?? err.message) : String(err);
      this.#host.io.writeError(this.#id, `libfcgi: ${status === 500 ? 'handler failed' : `answered ${status}`}: ${text}\n`);
      if (!this.#head.sent && this.#sent === 0) {
        this.#pending = [];
        this.#pendingBytes = 0;
        const reason = REASONS[status] ?? 'Internal Server Error';
        this.#queue(`Status: ${status} ${reason}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n${reason}\n`);
        this.#head.markRaw();
      } else {
        this.#aborted = true; // part of the response went out: the only honest end is a cut connection
      }
    }
    this.finish();
  }

  /** Body (or FILTER data) bytes the worker read for the body/data stream. */
  #onData(chunk: Buffer, eof: boolean, filterData = false): void {
    const body = filterData ? this.#data : this.#body;
    if (body === undefined) return;
    if (chunk.length > 0) body.push(chunk);
    if (eof) {
      if (this.#aborted) body.destroy(this.#abortError());
      else body.push(null);
    }
  }
  /** The worker wrote `total` bytes of this request's output so far. */
  #onWritten(total: number): void {
    this.#written = total;
    if (this.#sent - this.#written + this.#pendingBytes <= this.#host.highWaterMark) this.#resolveDrain();
    else if (this.#drainWaiters.length > 0 && !this.#ended) this.#flush(true);
  }
  /** The web server dropped the request (or close() cut it). */
  #onAborted(): void {
    if (this.#aborted) return;
    this.#aborted = true;
    this[kAbortHook]?.();
    this.#controller?.abort(this.#abortError());
    this.#resolveDrain();
    if (this.#body && !this.#body.readableEnded) this.#body.destroy(this.#abortError());
    if (this.#data && !this.#data.readableEnded) this.#data.destroy(this.#abortError());
  }

  #abortError(): LibfcgiError {
    return fcgiError('FCGI_ABORTED', 'the web server dropped this request (client gone, FCGI_ABORT_REQUEST or a write error)');
  }
  #queue(chunk: string | Uint8Array): void {
    const length = typeof chunk === 'string' ? chunk.length : chunk.byteLength;
    // Nothing to send (Node's res.end() writes an empty chunk): no piece for the native side to look at.
    if (length === 0) return;
    this.#pending.push(chunk);
    this.#pendingBytes += length;
  }
  #takePending(): string | Uint8Array | (string | Uint8Array)[] | undefined {
    const p = this.#pending;
    if (p.length === 0) return undefined;
    this.#sent += this.#pendingBytes;
    this.#pending = [];
    this.#pendingBytes = 0;
    if (p.length === 1) return p[0];
    if (p.every((c) => typeof c === 'string')) return p.join('');
    return p; // the worker writes the pieces in order: large buffers are not copied on this thread
  }
  #flush(notify: boolean): void {
    const data = this.#takePending();
    if (this.#aborted) {
      if (notify) this.#resolveDrain();
    } else if (data !== undefined) {
      this.#host.io.write(this.#id, data, notify);
      this.#unflushed = true;
    } else if (notify) {
      // Nothing new to send but too much still queued: an empty write asks the worker to report once
      // everything before it is out.
      if (this.#sent - this.#written > this.#host.highWaterMark) this.#host.io.write(this.#id, '', true);
      else this.#resolveDrain();
    }
  }
  /**
   * Sends pending output soon (after the current macrotask), if there is any; with watchPeer, also has the
   * worker report a hang-up of the web server if the request is still running then.
   */
  #scheduleFlush(watchPeer = false): void {
    if (watchPeer) this.#watchPeer = true;
    if (this.#flushScheduled || (this.#pending.length === 0 && !this.#unflushed && !watchPeer)) return;
    this.#flushScheduled = true;
    // After the current macrotask: a handler that prints and returns sends everything with END_REQUEST in
    // one command; one that prints and awaits still gets its output out promptly. One setImmediate for every
    // request of the macrotask (an async handler schedules one each, and most have finished by then).
    if (flushQueue.push(this) === 1) setImmediate(runFlushQueue);
  }
  /** The flush #scheduleFlush() asked for, at the end of the macrotask. */
  #runScheduledFlush(): void {
    this.#flushScheduled = false;
    if (this.#ended) return;
    if (this.#watchPeer) {
      this.#watchPeer = false;
      this.#host.io.watchPeer(this.#id);
    }
    this.#flush(false);
    // What the worker got so far leaves its stream buffer too (the end of the turn, as for Node's res.write()):
    // without this, output printed before an await waited for the handler's end.
    if (this.#unflushed && !this.#aborted) {
      this.#unflushed = false;
      this.#host.io.flush(this.#id);
    }
  }
  #resolveDrain(): void {
    const waiters = this.#drainWaiters;
    this.#drainWaiters = [];
    for (const w of waiters) w();
  }

  static {
    requestControl = {
      create: (host, slot, generation, params, role, prefetched, prefetchedAll, index) =>
        new ServerRequest(host, slot, generation, params, role, prefetched, prefetchedAll, index),
      slot: (req) => req.#slot,
      generation: (req) => req.#generation,
      setInHandlerCall: (req, on) => {
        req.#inHandlerCall = on;
      },
      fail: (req, err) => req.#fail(err),
      onData: (req, chunk, eof, filterData) => req.#onData(chunk, eof, filterData),
      onWritten: (req, total) => req.#onWritten(total),
      onAborted: (req) => req.#onAborted(),
      scheduleFlush: (req, watchPeer) => req.#scheduleFlush(watchPeer),
      runScheduledFlush: (req) => req.#runScheduledFlush(),
    };
  }
}

/**
 * The concurrent server made by {@link createServer}: native threads accept and do all socket I/O, the
 * handler runs on the event loop. Emits `listening` after listen() and `close` once close() is done.
 */
export class Server extends EventEmitter {
  readonly #handler: Handler;
  /** Requests in flight at once (options.concurrency). */
  readonly concurrency: number;
  /** Largest body text()/bytes()/json() accept (options.bodyLimit). */
  readonly bodyLimit: number;
  /** Output buffered per request before writableNeedDrain turns true (options.highWaterMark). */
  readonly highWaterMark: number;
  readonly #closeTimeout: number;
  readonly #handleSignals: boolean;
  #io: NativeServerIo | undefined;
  #slots: (ServerRequest | undefined)[] = [];
  #inFlight = 0;
  #exited = 0;
  #closing: Promise<void> | undefined;
  #closeResolve: (() => void) | undefined;
  #closeTimer: NodeJS.Timeout | undefined;
  #onSigterm: (() => void) | undefined;
  #unref = false;
  #cgi = false;
  readonly #host: RequestHost;
  readonly #nativeFactory: NativeFactory | undefined;
  #counters = new Counters();
  #refusedByLimits = 0; // the native count, kept for stats() once the workers are gone
  #refusedByGate = 0; // the native count, kept for stats() once the workers are gone
  readonly #statusPath: string | undefined;
  readonly #slowRequestThreshold: number | undefined;
  readonly #slowTimers: (NodeJS.Timeout | undefined)[] = [];

  constructor(handler: Handler, options: ServerOptions = {}) {
    super();
    if (typeof handler !== 'function') throw argTypeError('handler', 'a function', handler);
    if (typeof options !== 'object' || options === null) throw argTypeError('options', 'an object', options);
    const int = (name: keyof ServerOptions, def: number, min: number, max: number): number => {
      const v = options[name];
      if (v === undefined) return def;
      if (typeof v !== 'number') throw argTypeError(`options.${name}`, 'of type number', v);
      if (!Number.isInteger(v) || v < min || v > max) throw argRangeError(`options.${name}`, `an integer >= ${min} and <= ${max}`, v);
      return v;
    };
    this.#handler = handler;
    this.concurrency = int('concurrency', DEFAULT_CONCURRENCY, 1, MAX_SLOTS);
    this.bodyLimit = int('bodyLimit', DEFAULT_BODY_LIMIT, 0, Number.MAX_SAFE_INTEGER);
    this.highWaterMark = int('highWaterMark', DEFAULT_HIGH_WATER_MARK, 1, 2 ** 30);
    this.#closeTimeout = int('closeTimeout', DEFAULT_CLOSE_TIMEOUT, 0, 2 ** 31 - 1);
    if (options.handleSignals !== undefined && typeof options.handleSignals !== 'boolean') {
      throw argTypeError('options.handleSignals', 'a boolean', options.handleSignals);
    }
    this.#handleSignals = options.handleSignals ?? true;
    this.#nativeFactory = (options as { [kNativeFactory]?: NativeFactory })[kNativeFactory];
    this.#statusPath = checkStatusPath(options.statusPath);
    this.#slowRequestThreshold = checkSlowRequestThreshold(options.slowRequestThreshold);
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- the getter below has its own `this`; it reads #io when called
    const self = this;
    this.#host = {
      get io() {
        return self.#io as NativeServerIo;
      },
      bodyLimit: this.bodyLimit,
      highWaterMark: this.highWaterMark,
      requestDone: (req) => this.#requestDone(req),
    };
  }

  /**
   * Starts accepting on `{ path }`, `{ host, port }`, `{ fd }` or `{ fdName }`; with no options on the socket
   * systemd passed (LISTEN_FDS), else fd 0; like FastCGI's constructor.
   */
  listen(options?: ListenOptions): Promise<this> {
    try {
      // Started as a CGI script (no options, fd 0 not a listening socket, GATEWAY_INTERFACE set): serve the
      // one request the process was started for, then close.
      this[kAttach](options === undefined && isCgiInvocation() ? new CgiAcceptLoop() : normalizeListenOptions(options));
    } catch (err) {
      if (options === undefined) explainNoListenSocket(err, 'createServer().listen()');
      return Promise.reject(err);
    }
    return Promise.resolve(this);
  }

  /** @internal listen on validated options, or share a FastCGI accept loop's socket (for await). */
  [kAttach](source: NativeListenOptions | NativeAcceptLoop): void {
    if (this.#io !== undefined) throw fcgiError('FCGI_CLOSED', 'the server is already listening (create another one)');
    const onEvent: ServerEventHandler = (...event) => this.#onEvent(...event);
    this.#cgi = source instanceof CgiAcceptLoop;
    const io = this.#cgi
      ? new CgiServerIo(this.concurrency, onEvent)
      : this.#nativeFactory !== undefined
        ? this.#nativeFactory(source, this.concurrency, onEvent)
        : new native.ServerIo(source, this.concurrency, onEvent);
    this.#io = io;
    this.#counters = new Counters();
    this.#refusedByLimits = 0;
    this.#refusedByGate = 0;
    this.#slots = new Array<ServerRequest | undefined>(this.concurrency);
    // The watchdog ends a shutdown that overruns closeTimeout even when the JS thread is blocked; the margin
    // lets the JS timer cut requests and close normally first whenever it can run. Not in a worker thread:
    // signals reach only the main thread's listeners, so the server there never starts closing on SIGTERM.
    const watchdog = this.#handleSignals && isMainThread;
    io.start(watchdog ? Math.min(this.#closeTimeout + WATCHDOG_MARGIN_MS, 2 ** 31 - 1) : -1);
    if (this.#unref) io.unref();
    if (this.#handleSignals) {
      this.#onSigterm = () => void this.close();
      process.on('SIGTERM', this.#onSigterm);
    }
    this.emit('listening');
  }

  /** Where the server listens, or null before listen() and after close(). */
  address(): NativeAddress | null {
    return this.#io?.address() ?? null;
  }

  /**
   * The server's counters now: connections, requests, bytes, uptime ({@link Stats}); all 0 before listen().
   */
  stats(): Stats {
    const io = this.#io;
    const native: NativeStats =
      io === undefined || this.#exited === this.concurrency
        ? { idle: 0, queued: 0, refusedByLimits: this.#refusedByLimits, refusedByGate: this.#refusedByGate }
        : io.stats();
    this.#refusedByLimits = native.refusedByLimits;
    this.#refusedByGate = native.refusedByGate ?? 0;
    return this.#counters.snapshot(native);
  }

  /** Requests being handled now. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** Like net.Server#unref: an idle server does not keep the process alive. */
  unref(): this {
    this.#unref = true;
    this.#io?.unref();
    return this;
  }
  /** Undoes unref(): the server keeps the process alive again. */
  ref(): this {
    this.#unref = false;
    this.#io?.ref();
    return this;
  }

  /**
   * Stops accepting, lets requests in flight finish (cut after closeTimeout), joins the threads and removes
   * the unix socket file. Resolves when all of that is done. Called on SIGTERM unless handleSignals is false.
   */
  close(): Promise<void> {
    if (this.#closing) return this.#closing;
    const io = this.#io;
    this.#closing = new Promise<void>((resolve) => {
      this.#closeResolve = resolve;
    });
    if (io === undefined) {
      this.#unwatchSigterm();
      this.#closeResolve?.();
      return this.#closing;
    }
    // The SIGTERM listener stays until the shutdown is over: a second SIGTERM (a supervisor signalling the
    // process group, an impatient operator) changes nothing instead of killing the requests being drained.
    io.ref(); // worker exits must be delivered even on an unref'd server
    // Connections already queued in the listen backlog are served too (they arrive as requests meanwhile);
    // whatever is still running after closeTimeout is cut.
    io.stopAccepting();
    this.#closeTimer = setTimeout(() => {
      for (const req of this.#slots) if (req !== undefined) requestControl.onAborted(req);
      io.interrupt();
    }, this.#closeTimeout);
    return this.#closing;
  }

  #unwatchSigterm(): void {
    if (this.#onSigterm) process.removeListener('SIGTERM', this.#onSigterm);
    this.#onSigterm = undefined;
  }

  #onEvent(...[kind, slot, gen, a, b, c, d, e]: ServerEvent): void {
    if (kind === ServerEventKind.Request) {
      const req = requestControl.create(this.#host, slot, gen, a, b, c, d === true, e);
      this.#slots[slot] = req;
      this.#inFlight++;
      this.#counters.accepted++;
      if (c !== undefined) this.#counters.bytesIn += c.length;
      if (this.#statusPath !== undefined) {
        const format = statusRequest(a, this.#statusPath);
        if (format !== undefined) {
          req.print(statusPage(this.stats(), format, 'libfcgi concurrent server'));
          req.finish(); // answered here: the handler never sees it
          return;
        }
      }
      if (this.#slowRequestThreshold !== undefined) this.#watchSlow(req, this.#slowRequestThreshold);
      this.#run(req);
      return;
    }
    if (kind === ServerEventKind.WorkerExit) {
      if (++this.#exited === this.concurrency) this.#closed();
      return;
    }
    const req = this.#slots[slot];
    if (req === undefined || requestControl.generation(req) !== gen) return; // for a request that already ended
    if (kind === ServerEventKind.Data) {
      this.#counters.bytesIn += a.length;
      requestControl.onData(req, a, b, d === true);
    } else if (kind === ServerEventKind.Written) requestControl.onWritten(req, a);
    else if (kind === ServerEventKind.Aborted) requestControl.onAborted(req);
  }

  #run(req: ServerRequest): void {
    let result: unknown;
    requestControl.setInHandlerCall(req, true); // a handler that prints and returns sends everything with END_REQUEST
    try {
      result = this.#handler(req);
    } catch (err) {
      requestControl.setInHandlerCall(req, false);
      this.#fail(req, err);
      return;
    } finally {
      requestControl.setInHandlerCall(req, false);
    }
    if (result !== null && typeof result === 'object' && typeof (result as Promise<unknown>).then === 'function') {
      // Output of the synchronous part goes out while the handler awaits; and the client may go away
      // meanwhile (req.signal then aborts). Both after this macrotask: a handler that only awaited what was
      // already there (a body read with the request) is finished by then and needs neither.
      requestControl.scheduleFlush(req, true);
      (result as Promise<unknown>).then(
        () => req.finish(),
        (err: unknown) => this.#fail(req, err),
      );
    } else {
      req.finish();
    }
  }

  #fail(req: ServerRequest, err: unknown): void {
    this.#counters.failed++;
    requestControl.fail(req, err);
    if (this.listenerCount('error') > 0) this.emit('error', err, req);
    else if (clientErrorStatus(err) === undefined && !isErrorWithCode(err, 'FCGI_ABORTED')) {
      console.error('libfcgi: request handler failed (add a server "error" listener to handle this):', err);
    }
  }

  #requestDone(req: ServerRequest): void {
    // finish() runs once per request, so the count stays exact.
    this.#inFlight--;
    const slot = requestControl.slot(req);
    this.#counters.completed++;
    if (req.aborted) this.#counters.aborted++;
    this.#counters.bytesOut += req.bytesSent;
    const timer = this.#slowTimers[slot];
    if (timer !== undefined) {
      clearTimeout(timer);
      this.#slowTimers[slot] = undefined;
    }
    if (this.#slots[slot] === req) this.#slots[slot] = undefined;
    if (this.#cgi) void this.close(); // a CGI process serves one request
  }

  /** The slow-request log: one line to the request's FCGI_STDERR if it still runs after `ms`. */
  #watchSlow(req: ServerRequest, ms: number): void {
    const slot = requestControl.slot(req);
    const started = performance.now();
    const timer = setTimeout(() => {
      this.#slowTimers[slot] = undefined;
      if (this.#slots[slot] !== req || req.aborted) return;
      req.error(slowLine(req.param('REQUEST_METHOD'), req.param('REQUEST_URI'), performance.now() - started, ms));
    }, ms);
    timer.unref();
    this.#slowTimers[slot] = timer;
  }

  #closed(): void {
    if (this.#closeTimer) clearTimeout(this.#closeTimer);
    this.#io?.join();
    this.#unwatchSigterm();
    this.emit('close');
    this.#closeResolve?.();
  }
}

/**
 * Creates a concurrent server: many requests in flight in one process, async handlers, accept and socket I/O
 * on native threads (the event loop never blocks). Call `listen()` on it. Throws a TypeError/RangeError for
 * a bad handler or options. Given a function that declares two or more parameters (`(req, res)`,
 * `(req, res, next)`: an Express or Connect app, Koa's `app.callback()`), serves it as a Node `http` listener
 * through fromNodeListener; a handler of one parameter gets the ServerRequest; an object with a `fetch` method
 * (a Hono app) is served through fromFetchHandler.
 *
 * @example
 * ```ts
 * import { createServer } from 'libfcgi';
 * const server = createServer(async (req) => {
 *   const body = await req.text();
 *   req.status(200).header({ 'Content-Type': 'application/json' });
 *   req.print(JSON.stringify({ got: body.length }));
 * });
 * await server.listen({ path: '/tmp/app.sock' });
 * ```
 */
export function createServer(handler: Handler, options?: ServerOptions): Server;
export function createServer(listener: NodeListener, options?: ServerOptions): Server;
export function createServer(app: FetchApp, options?: ServerOptions): Server;
export function createServer(handler: Handler | NodeListener | FetchApp, options?: ServerOptions): Server {
  // An object with a fetch method (a Hono app) can only be a fetch app: a handler is always a function. A bare
  // fetch function cannot be told from a handler, so it goes through fromFetchHandler.
  if (typeof handler === 'object' && handler !== null && typeof handler.fetch === 'function') {
    return new Server(fromFetchHandler(handler), options);
  }
  return new Server(isNodeListener(handler) ? fromNodeListener(handler) : (handler as Handler), options);
}
