// Node `http` listeners ((req, res): Express, Koa's callback(), Fastify's routing, Connect) over createServer.
//
// req is a real http.IncomingMessage and res a real http.ServerResponse, over a socket that is a Duplex standing
// for the web server's connection: the response Node serialises (status line, headers, body) is written to it;
// the head becomes the CGI head (Status:, no hop-by-hop fields) and the body goes out through print() with its
// backpressure. Node never frames the body (no keep-alive, no chunked encoding by default): the web server does.
import http from 'http';
import type net from 'net';
import { Duplex } from 'stream';
import { argTypeError } from '../errors';
import type { ServerRequest } from '../server';
import { kAbortHook, kShapesOf, kTakeWholeBody } from '../symbols';
import { AppShapes } from './app-shapes';
import { cgiToHttp, normalizeMountPath, requestParams } from './cgi-http';

/** What `http.createServer` takes: Express and Connect apps, Koa's `app.callback()`, Fastify's `routing`. */
export type NodeListener = (req: http.IncomingMessage, res: http.ServerResponse) => unknown;

/** Options of {@link fromNodeListener}. */
export interface NodeListenerOptions {
  /**
   * The path prefix the web server routes to this app (nginx `location /app/`): cut off `req.url` when the
   * path is below it. Default: none, `req.url` is REQUEST_URI as the client sent it.
   */
  mountPath?: string;
  /**
   * For an Express app (one with Express's `app.request`/`app.response`): create on every `req` and `res`, before
   * the app runs, the plain properties the app adds to them (learned from its first requests: `req.params`,
   * `req.body`, `res.locals`, ...), so that V8 keeps one hidden class for them from request to request instead of
   * a new one per request after Express re-parents them. What the app reads does not change; `'body' in req` and
   * `Object.keys(req)` see those properties from the start. Default `true`; ignored for other listeners.
   */
  learnProperties?: boolean;
  /** @internal the app whose own req/res prototypes to prime for, when `listener` wraps it */
  [kShapesOf]?: unknown;
}

const SOCKET_HIGH_WATER_MARK = 16 * 1024; // as a net.Socket's
const NON_ASCII = /[^\x00-\x7f]/;

// OutgoingMessage keeps "write() returned false" under this symbol and emits 'drain' only from its socket's
// drain listener, which http.Server installs (not exported): ours does the same.
const kNeedDrain = Object.getOwnPropertySymbols(new http.OutgoingMessage()).find((s) => s.description === 'kNeedDrain');

function emitResponseDrain(res: http.ServerResponse): void {
  const flags = res as unknown as Record<symbol, boolean>;
  if (kNeedDrain === undefined) {
    res.emit('drain');
  } else if (flags[kNeedDrain] && !res.writableEnded) {
    flags[kNeedDrain] = false;
    res.emit('drain');
  }
}

/** A hop-by-hop field line of Node's head (with the CRLF before it), meaningless to the web server. */
const HOP_BY_HOP_LINE = /\r\n(?:connection|keep-alive|transfer-encoding):[^\r]*/gi;
/** Whether a head has one: Node writes none of its own (the response's Connection header is removed), so only a listener's. */
const HAS_HOP_BY_HOP = /\r\n(?:connection|keep-alive|transfer-encoding):/i;
const STATUS_LINE = /^HTTP\/\d\.\d (\d{3})(?: (.*))?$/;

/**
 * "HTTP/1.1 200 OK\r\nA: b\r\n...\r\n\r\n" (Node's own serialisation) -> "Status: 200 OK\r\nA: b\r\n...\r\n\r\n":
 * the status line rewritten, hop-by-hop lines a listener set dropped (a test first: the global replace is the
 * slower call, and the usual head has none).
 */
function cgiHead(head: string): string {
  const lineEnd = head.indexOf('\r\n');
  let fields = lineEnd < 0 ? '\r\n\r\n' : head.slice(lineEnd);
  if (HAS_HOP_BY_HOP.test(fields)) fields = fields.replace(HOP_BY_HOP_LINE, '');
  if (lineEnd >= 12 && head.startsWith('HTTP/1.1 ') && (lineEnd === 12 || head.charCodeAt(12) === 32) /* space */) {
    // Node's own "HTTP/1.1 200 OK": read without a regular expression (the code is three digits: writeHead checks).
    const message = lineEnd > 13 ? head.slice(13, lineEnd) : '';
    return `Status: ${head.slice(9, 12)}${message ? ` ${message}` : ''}${fields}`;
  }
  const status = STATUS_LINE.exec(lineEnd < 0 ? head : head.slice(0, lineEnd));
  if (status === null) return fields.slice(2); // (never from Node) no status line: the fields alone
  return `Status: ${status[1]}${status[2] ? ` ${status[2]}` : ''}${fields}`;
}

/** Whether a write starts "HTTP/1.1 1" (a 1xx status line: Node writes every status line as HTTP/1.1). */
function isInformational(chunk: string | Buffer): boolean {
  return (
    chunk.length > 9 &&
    (typeof chunk === 'string' ? chunk.charCodeAt(9) : chunk[9]) === 0x31 /* 1 */ &&
    chunk.slice(0, 9).toString() === 'HTTP/1.1 '
  );
}

function abortError(): Error & { code: string } {
  return Object.assign(new Error('aborted'), { code: 'ECONNRESET' });
}

/**
 * The connection as the listener sees it: addresses from REMOTE_ADDR/REMOTE_PORT/SERVER_ADDR/SERVER_PORT,
 * `encrypted` when HTTPS (so Express's req.protocol/req.secure and Koa's ctx.protocol are right). Writes carry
 * the serialised response to the FastCGI request.
 */
export class FastCGISocket extends Duplex {
  remoteAddress: string | undefined;
  remotePort: number | undefined;
  localAddress: string | undefined;
  localPort: number | undefined;
  remoteFamily: string | undefined;
  /** Present (true) only for HTTPS, as on a tls.TLSSocket. */
  encrypted?: true;
  /** @internal the response whose head is still to be turned into a CGI head */
  response: http.ServerResponse | undefined;
  /** @internal the request body's feed, which resume() (called by IncomingMessage's _read) drives */
  bodyFeed: BodyFeed | undefined;
  readonly #req: ServerRequest;
  #headDone = false;

  constructor(req: ServerRequest) {
    super({ decodeStrings: false, writableHighWaterMark: SOCKET_HIGH_WATER_MARK, allowHalfOpen: true });
    this.#req = req;
    this.on('error', () => undefined); // as http.Server's socketOnError: a write after the end must not crash
  }

  override _read(): void {
    // Nothing: the request body comes through the IncomingMessage.
  }

  /** IncomingMessage's own _read resumes its socket when it wants data: that feeds the request body. */
  override resume(): this {
    if (this.bodyFeed !== undefined) this.bodyFeed.read();
    else super.resume();
    return this;
  }

  override _write(chunk: string | Buffer, encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    const req = this.#req;
    if (req.finished) return callback(); // the request was answered already (a 500 after a throw)
    let data: string | Buffer = chunk;
    if (!this.#headDone) {
      const res = this.response as { _header?: string | null; _headerSent?: boolean } | undefined;
      const head = res?._header;
      // Node marks the head sent (OutgoingMessage._send) just before writing it, alone or as the start of the
      // first chunk. A write before that, or one starting "HTTP/1.1 1" while the head is a final status, is not
      // the head: an informational response (writeContinue, writeProcessing, writeEarlyHints) or a raw socket
      // write, neither of which FastCGI can send. (The chunk is not compared with the head: on Node's head +
      // body, a concatenated string, that comparison took 1.3k instructions per request in callgrind.)
      if (typeof head !== 'string' || res?._headerSent !== true || (isInformational(chunk) && !isInformational(head))) {
        return callback();
      }
      const headBytes = head.length; // latin1: a byte per char
      this.#headDone = true;
      const cgi = cgiHead(head);
      if (typeof chunk === 'string' && (encoding === 'utf8' || (encoding === 'latin1' && !NON_ASCII.test(chunk))) && !NON_ASCII.test(cgi)) {
        // The usual first write, head and body in one string (as Node sends them): one piece of output.
        req.print(cgi + chunk.slice(head.length));
        if (!req.writableNeedDrain) callback();
        else req.drain().then(() => callback(), callback);
        return;
      }
      req.print(Buffer.from(cgi, 'latin1')); // Node writes header values as latin1 bytes
      data = typeof chunk === 'string' ? chunk.slice(head.length) : chunk.subarray(headBytes);
      if (data.length === 0) return callback();
    }
    if (data.length === 0) return callback(); // res.end() writes '' after the body: nothing to send
    req.print(typeof data === 'string' ? Buffer.from(data, encoding) : data);
    if (!req.writableNeedDrain) callback();
    else req.drain().then(() => callback(), callback);
  }

  setTimeout(_ms: number, cb?: () => void): this {
    if (cb) this.once('timeout', cb);
    return this;
  }
  setNoDelay(): this {
    return this;
  }
  setKeepAlive(): this {
    return this;
  }
  ref(): this {
    return this;
  }
  unref(): this {
    return this;
  }
  address(): { address: string; family: string; port: number } | Record<string, never> {
    if (this.localAddress === undefined) return {};
    return { address: this.localAddress, family: this.localAddress.includes(':') ? 'IPv6' : 'IPv4', port: this.localPort ?? 0 };
  }
}

/**
 * The body side of a request: what feeds it from FCGI_STDIN as it is consumed, and what ends it. Node's own
 * `IncomingMessage.prototype._read` asks for more by resuming the socket (`readStart(socket)`), so the request
 * needs no `_read` of its own: an own function property on every request (what this adapter had) made the
 * garbage collector's work per Express request markedly larger (bench/README.md).
 */
class BodyFeed {
  readonly #req: http.IncomingMessage;
  readonly #source: ServerRequest;
  #started = false;
  #dumped = false;

  constructor(req: http.IncomingMessage, source: ServerRequest) {
    this.#req = req;
    this.#source = source;
  }

  /** The IncomingMessage wants data (its _read resumed the socket). */
  read(): void {
    if (this.#started) {
      this.#source.body.resume();
      return;
    }
    this.#started = true;
    const req = this.#req;
    const whole = this.#source[kTakeWholeBody]();
    if (whole !== undefined) {
      // A small body read with the request: straight in, as Node's parser pushes what came with the head
      // (no second stream in between, no 'data' hop per chunk).
      req.complete = true;
      if (whole.length > 0) req.push(whole);
      req.push(null);
      return;
    }
    const body = this.#source.body;
    body.on('data', (chunk: Buffer) => {
      if (!this.#dumped && !req.push(chunk)) body.pause();
    });
    body.once('end', () => {
      req.complete = true;
      if (!this.#dumped) req.push(null);
    });
    body.once('error', (err) => {
      if (!this.#dumped) req.destroy(err);
    });
  }

  /** No body to read (no Content-Length, not chunked, or 0): the stream ends at once. */
  endEmpty(): void {
    this.#started = true;
    this.#req.complete = true;
    this.#req.push(null);
  }

  /** The response is finished: what was not read is dropped (http.Server's _dump), the stream ends. */
  dump(): void {
    const req = this.#req;
    if (this.#dumped || req.readableEnded || req.destroyed) return;
    this.#dumped = true;
    req.removeAllListeners('data');
    req.push(null);
    req.resume();
  }
}

/** The request as Node's parser would have made it, its body read from FCGI_STDIN as it is consumed. */
function incomingMessage(socket: FastCGISocket, source: ServerRequest): [http.IncomingMessage, BodyFeed] {
  const req = new http.IncomingMessage(socket as unknown as net.Socket);
  const feed = new BodyFeed(req, source);
  socket.bodyFeed = feed;
  return [req, feed];
}

declare module 'http' {
  interface IncomingMessage {
    /** Node's internal: set by _read once the body is consumed (http.Server dumps unread bodies). */
    _consuming: boolean;
    _addHeaderLines(headers: string[], n: number): void;
  }
}

function hasBody(sreq: ServerRequest): boolean {
  const length = sreq.param('CONTENT_LENGTH');
  if (length !== undefined && length !== '') return length !== '0';
  return sreq.param('HTTP_TRANSFER_ENCODING') !== undefined;
}

/**
 * A createServer handler that runs a Node `http` listener: an Express, Connect or Fastify app, Koa's
 * `app.callback()`. The handler's promise settles when the response is finished (or the request aborted).
 * A listener that throws (or returns a promise that rejects) before answering gets a 500.
 */
export function fromNodeListener(listener: NodeListener, options: NodeListenerOptions = {}): (req: ServerRequest) => Promise<void> {
  if (typeof listener !== 'function') throw argTypeError('listener', 'a function (req, res) such as an Express app', listener);
  if (typeof options !== 'object' || options === null) throw argTypeError('options', 'an object', options);
  const mountPath = normalizeMountPath(options.mountPath, 'options.mountPath');
  const learn = options.learnProperties;
  if (learn !== undefined && typeof learn !== 'boolean') throw argTypeError('options.learnProperties', 'of type boolean', learn);
  const shapes = learn === false ? undefined : AppShapes.of(options[kShapesOf] ?? listener);

  return (sreq) =>
    new Promise<void>((resolve, reject) => {
      const info = cgiToHttp(requestParams(sreq), mountPath);
      const socket = new FastCGISocket(sreq);
      socket.remoteAddress = info.remoteAddress;
      socket.remotePort = info.remotePort;
      socket.localAddress = info.localAddress;
      socket.localPort = info.localPort;
      if (info.remoteAddress !== undefined) socket.remoteFamily = info.remoteAddress.includes(':') ? 'IPv6' : 'IPv4';
      if (info.scheme === 'https') socket.encrypted = true;

      const [req, body] = incomingMessage(socket, sreq);
      req.method = info.method;
      req.url = info.url;
      req.httpVersion = info.httpVersion;
      req.httpVersionMajor = Number(info.httpVersion[0]);
      req.httpVersionMinor = Number(info.httpVersion[2] ?? 0);
      req._addHeaderLines(info.rawHeaders, info.rawHeaders.length);
      if (!hasBody(sreq)) body.endEmpty();

      const res = new http.ServerResponse(req);
      // The web server frames the response and adds Date: Node must neither chunk the body nor keep alive.
      res.useChunkedEncodingByDefault = false;
      res.shouldKeepAlive = false;
      res.removeHeader('Connection'); // nor write "Connection: close" into a head that would only drop it
      res.sendDate = false;
      socket.response = res;
      res.assignSocket(socket as unknown as net.Socket);
      socket.on('drain', () => emitResponseDrain(res));
      shapes?.prime(req, res);

      let settled = false;
      const settle = (err?: unknown) => {
        if (settled) return;
        settled = true;
        sreq[kAbortHook] = undefined;
        if (err === undefined) resolve();
        // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- passes on what the response stream failed with
        else reject(err);
      };
      res.once('finish', () => {
        // As http.Server: an unread body is dropped, the socket detached, 'close' follows on the next tick.
        body.dump();
        if (res.socket === (socket as unknown)) res.detachSocket(socket as unknown as net.Socket);
        process.nextTick(() => {
          shapes?.learn(req, res);
          if (!res.destroyed) {
            res.destroyed = true;
            res.emit('close');
          }
          socket.destroy();
          settle();
        });
      });
      const onAbort = () => {
        // As when a client's connection closes: req is destroyed ('aborted', 'close'), res gets 'close' alone.
        if (!req.destroyed) req.destroy(req.complete ? undefined : abortError());
        socket.destroy();
        settle();
      };
      if (sreq.aborted) return onAbort();
      sreq[kAbortHook] = onAbort;

      try {
        const result = listener(req, res);
        if (result !== null && typeof result === 'object' && typeof (result as PromiseLike<unknown>).then === 'function') {
          (result as PromiseLike<unknown>).then(undefined, (err: unknown) => fail(err));
        }
      } catch (err) {
        fail(err);
      }
      function fail(err: unknown): void {
        // The handler's rejection answers 500 when nothing went out (ServerRequest.fail); the socket then drops
        // whatever the listener still writes.
        socket.destroy();
        settle(err ?? new Error('the listener failed'));
      }
    });
}

/** A listener function: what createServer treats as one (two or more declared parameters: (req, res[, next])). */
export function isNodeListener(fn: unknown): fn is NodeListener {
  return typeof fn === 'function' && fn.length >= 2;
}
