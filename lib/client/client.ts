// One FastCGI connection seen from the web server's side: requests, management queries and raw record access.
import net from 'net';
import { Readable } from 'stream';
import { type BodySource, bodyBytes, bodyChunks, checkBodySource } from './body-source';
import { clientError } from './errors';
import {
  FCGI_MAX_CONTENT_LENGTH,
  FCGI_NULL_REQUEST_ID,
  type FastCGIRecord,
  type ParamsInput,
  RecordType,
  Role,
  type RoleName,
  checkInteger,
  decodeEndRequest,
  decodeParams,
  decodeUnknownType,
  describe,
  encodeBeginRequest,
  encodeHeader,
  encodeParams,
  recordTypeName,
} from './protocol';
import { RecordDecoder } from './record-decoder';

/** Where the application listens: a unix socket path, or TCP (`host` defaults to 127.0.0.1). */
export type ConnectTarget =
  | {
      /** The unix socket's path. */
      path: string;
    }
  | {
      /** The host (default 127.0.0.1). */
      host?: string;
      /** The TCP port. */
      port: number;
    };

/** Options of {@link FastCGIClient.connect}. */
export interface ConnectOptions {
  /**
   * Milliseconds. Bounds connecting, and then the silence of the connection while something waits for the
   * application (a request's END_REQUEST, a GET_VALUES_RESULT): no bytes in either direction for this long
   * rejects with FCGI_TIMEOUT and closes the connection. Default: no timeout.
   */
  timeout?: number;
  /** The default of RequestOptions.keepConn (default false: the application closes the connection after a request). */
  keepConn?: boolean;
  /** The first request id (default 1); later ones count up, wrap after 65535 and skip ids still active. */
  firstRequestId?: number;
}

/** Options of {@link FastCGIClient.request}. */
export interface RequestOptions {
  /** FCGI_PARAMS: the CGI environment, sent exactly as given (nothing is added, e.g. no CONTENT_LENGTH). */
  params?: ParamsInput;
  /** FCGI_STDIN. Streams are read as fast as the socket accepts them. Default: empty. */
  body?: BodySource;
  /** FCGI_DATA, only for the FILTER role (sent after the body). Default: empty. */
  data?: BodySource;
  /** 'RESPONDER' (default), 'AUTHORIZER', 'FILTER', or any 16-bit role number (to test UNKNOWN_ROLE). */
  role?: RoleName | number;
  /** Sets FCGI_KEEP_CONN; default: the connection's `keepConn` option. */
  keepConn?: boolean;
  /** 1..65535; default: the connection's next free id. */
  requestId?: number;
}

/** The body of FCGI_END_REQUEST. */
export interface EndRequest {
  /** The application's exit status. */
  appStatus: number;
  /** A {@link ProtocolStatus} value (0: REQUEST_COMPLETE). */
  protocolStatus: number;
}

/** A request's whole output and its END_REQUEST, from {@link ClientRequest.response}. */
export interface CollectedResponse extends EndRequest {
  /** All FCGI_STDOUT bytes (the CGI response). */
  stdout: Buffer;
  /** All FCGI_STDERR bytes. */
  stderr: Buffer;
}

/** A request in flight on a FastCGIClient. */
export interface ClientRequest {
  /** The request id on its connection (1..65535). */
  readonly requestId: number;
  /**
   * FCGI_STDOUT. Read it (or call response()): it holds at most about 1 MiB before the connection stops reading,
   * and END_REQUEST (so `done`) comes after the output.
   */
  readonly stdout: Readable;
  /** FCGI_STDERR; buffered without limit (it is a log stream), so it never stalls the connection. */
  readonly stderr: Readable;
  /**
   * Resolves with END_REQUEST, whatever its protocolStatus. Rejects when the connection ends first
   * (FCGI_CONNECTION_CLOSED, FCGI_TIMEOUT, FCGI_PROTOCOL_ERROR) or the body source failed (FCGI_BODY_ERROR).
   */
  readonly done: Promise<EndRequest>;
  /** Sends FCGI_ABORT_REQUEST and stops sending the body; the application still answers with END_REQUEST. */
  abort(): void;
  /** Collects stdout and stderr to the end; call it before reading the streams yourself. */
  response(): Promise<CollectedResponse>;
}

/** Options of {@link FastCGIClient.readRecords}. */
export interface ReadRecordsOptions {
  /** Stop when the connection closes (default), or after the first END_REQUEST (of `requestId`, if given). */
  until?: 'close' | 'end-request';
  /** With until 'end-request': the request whose END_REQUEST ends reading (default: any). */
  requestId?: number;
  /** Give up after this many ms and return what arrived (default: the connection's timeout, else 5000). */
  timeoutMs?: number;
}

/** What {@link FastCGIClient.readRecords} read. */
export interface ReadRecordsResult {
  /** The records in the order they came. */
  records: FastCGIRecord[];
  /** Why reading stopped; 'timeout' is a result, not an error, so tests can assert that nothing came. */
  reason: 'close' | 'end-request' | 'timeout';
}

const EMPTY = Buffer.alloc(0);
/** Padding bytes are zeros; one shared buffer serves every record. */
const PADDING = Buffer.alloc(8);
/** How much stdout a request buffers before the connection stops reading from the socket. */
const STDOUT_HIGH_WATER_MARK = 1024 * 1024;
/** Records nobody claims (see readRecords) are kept up to this many content bytes, then dropped. */
const UNCLAIMED_LIMIT = 16 * 1024 * 1024;
/** How long close() lets the application answer our FIN before destroying the socket. */
const CLOSE_GRACE_MS = 2000;
const DEFAULT_READ_RECORDS_TIMEOUT_MS = 5000;
/** In-memory request bodies up to this size are copied into the request's one write buffer. */
const BATCH_COPY_LIMIT = 16 * 1024;
const MAX_TIMER_MS = 0x7fffffff;

interface ValueQuery {
  resolve(values: Record<string, string>): void;
  reject(err: Error): void;
}

/** A request stream (STDIN, DATA) still to be sent. */
interface OutgoingStream {
  type: number;
  source: BodySource;
  what: string;
}

interface RequestHooks {
  onStdoutRead(request: OutstandingRequest): void;
  onAbort(request: OutstandingRequest): void;
}

/** The client's side of one request; exposed to callers only through the ClientRequest interface. */
class OutstandingRequest implements ClientRequest {
  readonly stdout: Readable;
  readonly stderr: Readable;
  readonly done: Promise<EndRequest>;
  /** Body/data records may still be written (false after END_REQUEST, abort, failure). */
  sending = true;
  abortSent = false;
  settled = false;
  stdoutEnded = false;
  stderrEnded = false;
  stdoutBytes = 0;
  /** A body source failure, reported once the application has answered the abort (or the connection ends). */
  bodyFailure: Error | undefined;
  private resolveDone!: (end: EndRequest) => void;
  private rejectDone!: (err: Error) => void;

  constructor(
    readonly requestId: number,
    private readonly hooks: RequestHooks,
  ) {
    this.stdout = new Readable({ highWaterMark: STDOUT_HIGH_WATER_MARK, read: () => hooks.onStdoutRead(this) });
    // A consumer that destroys stdout no longer reads it; the connection must not stay paused for it.
    this.stdout.on('close', () => hooks.onStdoutRead(this));
    this.stderr = new Readable({ read: () => undefined });
    // The failure reaches everyone through `done`; an unlistened stream 'error' must not crash the process.
    this.stdout.on('error', () => undefined);
    this.stderr.on('error', () => undefined);
    this.done = new Promise<EndRequest>((resolve, reject) => {
      this.resolveDone = resolve;
      this.rejectDone = reject;
    });
    this.done.catch(() => undefined); // callers who only read the streams must not get an unhandled rejection
  }

  abort(): void {
    this.hooks.onAbort(this);
  }

  async response(): Promise<CollectedResponse> {
    const stdout = collect(this.stdout);
    const stderr = collect(this.stderr);
    // If the request fails, the streams fail with it, but `done` carries the reason: report that one.
    stdout.catch(() => undefined);
    stderr.catch(() => undefined);
    const end = await this.done;
    return { stdout: await stdout, stderr: await stderr, appStatus: end.appStatus, protocolStatus: end.protocolStatus };
  }

  /** Returns false when the consumer is behind and the connection should stop reading. */
  pushStdout(content: Buffer): boolean {
    this.stdoutBytes += content.length;
    if (this.stdout.destroyed) return true; // nobody reads any more: drop it rather than stall the connection
    return this.stdout.push(content);
  }

  pushStderr(content: Buffer): void {
    if (!this.stderr.destroyed) this.stderr.push(content);
  }

  endStdout(): void {
    if (!this.stdoutEnded) this.stdout.push(null);
    this.stdoutEnded = true;
  }

  endStderr(): void {
    if (!this.stderrEnded) this.stderr.push(null);
    this.stderrEnded = true;
  }

  finish(end: EndRequest): void {
    this.sending = false;
    this.settled = true;
    this.endStdout();
    this.endStderr();
    if (this.bodyFailure) this.rejectDone(this.bodyFailure);
    else this.resolveDone(end);
  }

  fail(err: Error): void {
    this.sending = false;
    this.settled = true;
    const reason = this.bodyFailure ?? err;
    // A stream the application already ended keeps its data; the others fail with the reason.
    if (!this.stdoutEnded) this.stdout.destroy(reason);
    if (!this.stderrEnded) this.stderr.destroy(reason);
    this.rejectDone(reason);
  }
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Reads a stream to its end. */
function collect(stream: Readable): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.once('end', () => resolve(Buffer.concat(chunks)));
    stream.once('error', reject);
    stream.once('close', () => {
      if (!stream.readableEnded) {
        reject(clientError('FCGI_CONNECTION_CLOSED', 'the stream was destroyed before its end'));
      }
    });
  });
}

function normalizeTarget(target: unknown): net.NetConnectOpts {
  if (target === null || typeof target !== 'object') {
    throw new TypeError(`target must be { path } or { host?, port }, got ${describe(target)}`);
  }
  const { path, host, port } = target as { path?: unknown; host?: unknown; port?: unknown };
  if (path !== undefined) {
    if (typeof path !== 'string' || path === '') {
      throw new TypeError(`path must be a non-empty string, got ${describe(path)}`);
    }
    if (port !== undefined || host !== undefined) throw new TypeError('give either path or host/port, not both');
    return { path };
  }
  if (port === undefined) throw new TypeError('target needs a path (unix socket) or a port (TCP)');
  checkInteger(port, 'port', 1, 65535);
  if (host !== undefined && (typeof host !== 'string' || host === '')) {
    throw new TypeError(`host must be a non-empty string, got ${describe(host)}`);
  }
  return { host: host ?? '127.0.0.1', port: port as number };
}

interface ClientSettings {
  timeout: number | undefined;
  keepConn: boolean;
  firstRequestId: number;
}

function normalizeOptions(options: unknown): ClientSettings {
  if (options === null || typeof options !== 'object') {
    throw new TypeError(`options must be an object, got ${describe(options)}`);
  }
  const { timeout, keepConn, firstRequestId } = options as ConnectOptions;
  if (timeout !== undefined) checkInteger(timeout, 'timeout', 1, MAX_TIMER_MS);
  if (keepConn !== undefined && typeof keepConn !== 'boolean') {
    throw new TypeError(`keepConn must be a boolean, got ${describe(keepConn)}`);
  }
  return {
    timeout,
    keepConn: keepConn ?? false,
    firstRequestId: checkInteger(firstRequestId ?? 1, 'firstRequestId', 1, 65535),
  };
}

function normalizeRole(role: unknown): number {
  if (role === undefined) return Role.RESPONDER;
  if (typeof role === 'string') {
    if (Object.prototype.hasOwnProperty.call(Role, role)) return Role[role as RoleName];
    throw new TypeError(`role must be 'RESPONDER', 'AUTHORIZER', 'FILTER' or a number, got ${describe(role)}`);
  }
  return checkInteger(role, 'role', 0, 0xffff);
}

function targetLabel(target: net.NetConnectOpts): string {
  if ('path' in target) return target.path;
  const { host, port } = target;
  return `${host}:${port}`;
}

/**
 * One transport connection to a FastCGI application.
 *
 * How records from the application are handled (the spec defines the application's side; these are the choices
 * for ours):
 * - STDOUT/STDERR/END_REQUEST for an active request go to it; END_REQUEST makes the id inactive.
 * - Records for an id with no active request are ignored by requests, as the spec tells applications to do for
 *   inactive ids (late output after an abort, say); they are kept for readRecords().
 * - GET_VALUES_RESULT answers the oldest getValues(); UNKNOWN_TYPE{GET_VALUES} rejects it (FCGI_UNKNOWN_TYPE);
 *   other management records are kept for readRecords().
 * - A record for an active request that only a web server may send (BEGIN_REQUEST, PARAMS, STDIN, ...), or of a
 *   type the spec does not define, a malformed END_REQUEST, stream data after the stream's empty record, or a bad
 *   header: the application is broken, so FCGI_PROTOCOL_ERROR fails every request and the connection is closed.
 */
export class FastCGIClient {
  private readonly decoder = new RecordDecoder();
  private readonly requests = new Map<number, OutstandingRequest>();
  private readonly valueQueries: ValueQuery[] = [];
  private readonly stalled = new Set<OutstandingRequest>();
  private readonly unclaimed: FastCGIRecord[] = [];
  private unclaimedBytes = 0;
  private reader: (() => void) | undefined;
  private nextRequestId: number;
  /** The id of a request sent without keepConn: the application closes the connection after it. */
  private notKeptBy: number | undefined;
  private isClosed = false;
  private closeRequested = false;
  /** Why we ended the connection (protocol error, timeout); undefined when the application closed it. */
  private failure: Error | undefined;
  private socketError: Error | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  private drainWait: Promise<void> | undefined;
  /** Set while request() collects its records for one write (see flushBatch). */
  private batch: Buffer[] | undefined;
  /** Pumps waiting for the caller's body source rather than for the application. */
  private sourceWaits = 0;
  private readonly closedPromise: Promise<void>;
  private readonly hooks: RequestHooks = {
    onStdoutRead: (request) => this.resumeFor(request),
    onAbort: (request) => this.abortRequest(request),
  };

  private constructor(
    private readonly socket: net.Socket,
    private readonly settings: ClientSettings,
  ) {
    this.nextRequestId = settings.firstRequestId;
    this.closedPromise = new Promise((resolve) => socket.once('close', () => resolve()));
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('end', () => {
      try {
        this.decoder.end();
      } catch (err) {
        this.failure ??= err as Error;
      }
    });
    socket.on('error', (err) => {
      this.socketError ??= err;
    });
    socket.on('close', () => this.onClose());
  }

  /** Connects; connection failures reject with Node's own error (code ECONNREFUSED, ENOENT, ...). */
  static async connect(target: ConnectTarget, options: ConnectOptions = {}): Promise<FastCGIClient> {
    const connectOptions = normalizeTarget(target);
    const settings = normalizeOptions(options);
    return new Promise((resolve, reject) => {
      const socket = net.connect(connectOptions);
      let timer: NodeJS.Timeout | undefined;
      const onError = (err: Error) => {
        clearTimeout(timer);
        reject(err);
      };
      socket.once('error', onError);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.off('error', onError);
        if (!('path' in connectOptions)) socket.setNoDelay(true); // small records must not wait for Nagle
        resolve(new FastCGIClient(socket, settings));
      });
      if (settings.timeout !== undefined) {
        const ms = settings.timeout;
        timer = setTimeout(() => {
          socket.destroy();
          reject(clientError('FCGI_TIMEOUT', `connecting to ${targetLabel(connectOptions)} took longer than ${ms} ms`));
        }, ms);
      }
    });
  }

  /** True once the connection has closed. */
  get closed(): boolean {
    return this.isClosed;
  }

  /**
   * Starts a request: BEGIN_REQUEST, PARAMS (cut into records of at most 65535 bytes, then the empty PARAMS),
   * STDIN from `body` (then the empty STDIN) and, for FILTER, DATA likewise. Streamed bodies follow socket
   * backpressure. Several requests may be in flight (multiplexing) when the application supports it.
   */
  request(options: RequestOptions = {}): ClientRequest {
    if (options === null || typeof options !== 'object') {
      throw new TypeError(`options must be an object, got ${describe(options)}`);
    }
    const role = normalizeRole(options.role);
    const keepConn = options.keepConn ?? this.settings.keepConn;
    if (typeof keepConn !== 'boolean') throw new TypeError(`keepConn must be a boolean, got ${describe(keepConn)}`);
    const params = encodeParams(options.params ?? {});
    const body = options.body === undefined ? EMPTY : checkBodySource(options.body, 'body');
    if (options.data !== undefined && role !== Role.FILTER) {
      throw new TypeError('data (FCGI_DATA) is only sent for the FILTER role');
    }
    const data = options.data === undefined ? EMPTY : checkBodySource(options.data, 'data');
    if (options.requestId !== undefined) checkInteger(options.requestId, 'requestId', 1, 0xffff);
    this.assertOpen();
    if (this.notKeptBy !== undefined) {
      throw clientError(
        'FCGI_CONNECTION_NOT_KEPT',
        `request ${this.notKeptBy} was sent without keepConn, so the application closes this connection after it; ` +
          'connect again, or send requests with keepConn: true',
      );
    }
    const requestId = options.requestId ?? this.allocateRequestId();
    if (this.requests.has(requestId)) {
      throw clientError('FCGI_REQUEST_ID_IN_USE', `request id ${requestId} is still active on this connection`);
    }

    const request = new OutstandingRequest(requestId, this.hooks);
    this.requests.set(requestId, request);
    if (!keepConn) this.notKeptBy = requestId;
    const outgoing: OutgoingStream[] = [{ type: RecordType.STDIN, source: body, what: 'body' }];
    if (role === Role.FILTER) outgoing.push({ type: RecordType.DATA, source: data, what: 'data' });

    // Everything already in memory goes out together: the records of a small request are copied into one buffer
    // (one write, one syscall); a large in-memory body is not copied but written corked after them.
    this.socket.cork();
    this.batch = [];
    try {
      this.writeRecord(RecordType.BEGIN_REQUEST, requestId, encodeBeginRequest(role, keepConn));
      this.writeStreamNow(RecordType.PARAMS, requestId, params);
      this.writeRecord(RecordType.PARAMS, requestId, EMPTY);
      while (outgoing.length > 0) {
        const bytes = bodyBytes(outgoing[0].source);
        if (bytes === undefined) break;
        if (bytes.length > BATCH_COPY_LIMIT) this.flushBatch();
        this.writeStreamNow(outgoing[0].type, requestId, bytes);
        this.writeRecord(outgoing[0].type, requestId, EMPTY);
        outgoing.shift();
      }
    } finally {
      this.flushBatch();
      this.socket.uncork();
    }
    if (outgoing.length > 0) {
      this.pump(request, outgoing).catch((err: unknown) => this.bodyFailed(request, err));
    } else {
      request.sending = false;
    }
    this.updateTimer();
    return request;
  }

  /**
   * FCGI_GET_VALUES: asks the application for variables (FCGI_MAX_CONNS, FCGI_MAX_REQS, FCGI_MPXS_CONNS, ...).
   * Resolves with the names it answered; the spec lets it omit names it does not know.
   */
  async getValues(names: string[]): Promise<Record<string, string>> {
    if (!Array.isArray(names)) throw new TypeError(`names must be an array of strings, got ${describe(names)}`);
    names.forEach((name, index) => {
      if (typeof name !== 'string') throw new TypeError(`names[${index}] must be a string, got ${describe(name)}`);
    });
    const content = encodeParams(names.map((name): [string, string] => [name, '']));
    if (content.length > FCGI_MAX_CONTENT_LENGTH) {
      throw new RangeError(`names encode to ${content.length} bytes; one GET_VALUES record holds at most 65535`);
    }
    this.assertOpen();
    return new Promise((resolve, reject) => {
      this.valueQueries.push({ resolve, reject });
      // Never without padding: libfcgi (2.4.x FillBuffProc) answers a management record only once bytes after
      // its content are in its read buffer, so an unpadded GET_VALUES sent alone waits for the next record.
      this.writeRecord(RecordType.GET_VALUES, FCGI_NULL_REQUEST_ID, content, 8 - (content.length % 8));
      this.updateTimer();
    });
  }

  /** Writes bytes as they are (protocol tests: malformed records, odd splits). Resolves once handed to the OS. */
  writeRaw(bytes: Uint8Array): Promise<void> {
    if (!(bytes instanceof Uint8Array)) {
      return Promise.reject(new TypeError(`bytes must be a Uint8Array, got ${describe(bytes)}`));
    }
    try {
      this.assertOpen();
    } catch (err) {
      return Promise.reject(err);
    }
    return new Promise((resolve, reject) => {
      this.socket.write(bytes, (err) => (err ? reject(err) : resolve()));
    });
  }

  /**
   * Returns the records no request or getValues() claimed (those sent for ids this client has no request for,
   * e.g. after writeRaw), including ones that arrived before the call, until the connection closes, an
   * END_REQUEST is seen (`until: 'end-request'`), or `timeoutMs` passes. One reader at a time.
   */
  async readRecords(options: ReadRecordsOptions = {}): Promise<ReadRecordsResult> {
    const until = options.until ?? 'close';
    if (until !== 'close' && until !== 'end-request') {
      throw new TypeError(`until must be 'close' or 'end-request', got ${describe(until)}`);
    }
    const requestId = options.requestId === undefined ? undefined : checkInteger(options.requestId, 'requestId', 0, 0xffff);
    const timeoutMs = checkInteger(
      options.timeoutMs ?? this.settings.timeout ?? DEFAULT_READ_RECORDS_TIMEOUT_MS,
      'timeoutMs',
      0,
      MAX_TIMER_MS,
    );
    if (this.reader) throw new Error('readRecords() is already waiting on this connection');
    return new Promise((resolve) => {
      const records: FastCGIRecord[] = [];
      const finish = (reason: ReadRecordsResult['reason']) => {
        clearTimeout(timer);
        this.reader = undefined;
        resolve({ records, reason });
      };
      const take = () => {
        while (this.unclaimed.length > 0) {
          const record = this.unclaimed.shift() as FastCGIRecord;
          this.unclaimedBytes -= record.content.length;
          records.push(record);
          const wanted = requestId === undefined || record.requestId === requestId;
          if (until === 'end-request' && record.type === RecordType.END_REQUEST && wanted) {
            finish('end-request');
            return;
          }
        }
        if (this.isClosed) finish('close');
      };
      const timer = setTimeout(() => finish('timeout'), timeoutMs);
      this.reader = take;
      take();
    });
  }

  /**
   * Closes the connection and resolves when it is closed. With nothing in flight it closes gracefully (FIN, as a
   * web server ends a kept connection); requests or getValues still waiting are rejected with
   * FCGI_CONNECTION_CLOSED and the socket is destroyed.
   */
  close(): Promise<void> {
    if (this.isClosed) return Promise.resolve();
    this.closeRequested = true;
    if (this.requests.size > 0 || this.valueQueries.length > 0) {
      this.socket.destroy();
      return this.closedPromise;
    }
    this.socket.end();
    const grace = setTimeout(() => this.socket.destroy(), CLOSE_GRACE_MS);
    return this.closedPromise.finally(() => clearTimeout(grace));
  }

  private assertOpen(): void {
    if (this.isClosed || this.socket.destroyed || this.socket.writableEnded) {
      const why = this.closeRequested ? ' (close() was called)' : '';
      throw clientError('FCGI_CONNECTION_CLOSED', `the connection is closed${why}`);
    }
  }

  private allocateRequestId(): number {
    for (let i = 0; i < 0xffff; i++) {
      const id = this.nextRequestId;
      this.nextRequestId = id === 0xffff ? 1 : id + 1;
      if (!this.requests.has(id)) return id;
    }
    throw clientError('FCGI_REQUEST_ID_IN_USE', 'all 65535 request ids are active on this connection');
  }

  /**
   * Writes one record (header, content and padding side by side, no copy); false means wait for 'drain'. Records
   * are padded to a multiple of 8 bytes, as the spec recommends and nginx and libfcgi do.
   */
  private writeRecord(type: number, requestId: number, content: Buffer, paddingLength = (8 - (content.length % 8)) % 8): boolean {
    if (this.socket.destroyed || this.socket.writableEnded) return false;
    const header = encodeHeader(type, requestId, content.length, paddingLength);
    if (this.batch !== undefined) {
      this.batch.push(header);
      if (content.length > 0) this.batch.push(content);
      if (paddingLength > 0) this.batch.push(PADDING.subarray(0, paddingLength));
      return true;
    }
    if (content.length === 0 && paddingLength === 0) return this.socket.write(header, this.onWritten);
    this.socket.cork();
    this.socket.write(header);
    let ok: boolean;
    if (paddingLength === 0) {
      ok = this.socket.write(content, this.onWritten);
    } else {
      if (content.length > 0) this.socket.write(content);
      ok = this.socket.write(PADDING.subarray(0, paddingLength), this.onWritten);
    }
    this.socket.uncork();
    return ok;
  }

  /** Writes the records collected by writeRecord since `batch` was set, as one buffer; later records go directly. */
  private flushBatch(): void {
    const batch = this.batch;
    this.batch = undefined;
    if (batch === undefined || batch.length === 0 || this.socket.destroyed || this.socket.writableEnded) return;
    this.socket.write(batch.length === 1 ? batch[0] : Buffer.concat(batch), this.onWritten);
  }

  /** A stream's content, already in memory, as records; the socket buffers it (it costs no extra memory). */
  private writeStreamNow(type: number, requestId: number, content: Buffer): void {
    for (let offset = 0; offset < content.length; offset += FCGI_MAX_CONTENT_LENGTH) {
      this.writeRecord(type, requestId, content.subarray(offset, offset + FCGI_MAX_CONTENT_LENGTH));
    }
  }

  private readonly onWritten = (): void => {
    this.idleTimer?.refresh(); // our bytes moving counts as activity: the application is reading
  };

  /** Sends streamed body/data sources in order, one record at a time, waiting for 'drain' when the socket is full. */
  private async pump(request: OutstandingRequest, outgoing: OutgoingStream[]): Promise<void> {
    for (const { type, source, what } of outgoing) {
      const bytes = bodyBytes(source);
      if (bytes !== undefined) {
        if (!(await this.writeWithBackpressure(request, type, bytes))) return;
      } else {
        const chunks = bodyChunks(source as Exclude<BodySource, string | Uint8Array>, what);
        let exhausted = false;
        try {
          for (;;) {
            if (!request.sending) return;
            let step: IteratorResult<Buffer>;
            // While we wait for the caller's source (a slow upload), the application's silence is not its fault.
            this.sourceWaits++;
            this.updateTimer();
            try {
              step = await chunks.next();
            } catch (err) {
              exhausted = true; // a failed iterator is finished; do not call return() on it
              throw clientError('FCGI_BODY_ERROR', `reading the request ${what} failed: ${errorMessage(err)}`, err);
            } finally {
              this.sourceWaits--;
              this.updateTimer();
            }
            if (step.done) {
              exhausted = true;
              break;
            }
            if (!(await this.writeWithBackpressure(request, type, step.value))) return;
          }
        } finally {
          if (!exhausted) await chunks.return?.().catch(() => undefined);
        }
      }
      if (!request.sending) return;
      this.writeRecord(type, request.requestId, EMPTY);
    }
    request.sending = false;
  }

  /** False when the request stopped sending (END_REQUEST, abort, connection gone). */
  private async writeWithBackpressure(request: OutstandingRequest, type: number, bytes: Buffer): Promise<boolean> {
    for (let offset = 0; offset < bytes.length; offset += FCGI_MAX_CONTENT_LENGTH) {
      if (!request.sending || this.socket.destroyed) return false; // 'close' (which stops the request) comes later
      if (!this.writeRecord(type, request.requestId, bytes.subarray(offset, offset + FCGI_MAX_CONTENT_LENGTH))) {
        await this.drained();
      }
    }
    return request.sending;
  }

  private drained(): Promise<void> {
    if (this.socket.destroyed) return Promise.resolve();
    this.drainWait ??= new Promise<void>((resolve) => {
      const done = () => {
        this.socket.off('drain', done);
        this.socket.off('close', done);
        this.drainWait = undefined;
        resolve();
      };
      this.socket.on('drain', done);
      this.socket.on('close', done);
    });
    return this.drainWait;
  }

  /** The body source failed: abort, and report the failure once the application has answered. */
  private bodyFailed(request: OutstandingRequest, err: unknown): void {
    if (request.settled) return;
    request.bodyFailure =
      err instanceof Error && (err as { code?: unknown }).code === 'FCGI_BODY_ERROR'
        ? err
        : clientError('FCGI_BODY_ERROR', `sending the request body failed: ${errorMessage(err)}`, err);
    this.abortRequest(request);
  }

  private abortRequest(request: OutstandingRequest): void {
    request.sending = false;
    if (request.settled || request.abortSent || this.requests.get(request.requestId) !== request) return;
    request.abortSent = true;
    this.writeRecord(RecordType.ABORT_REQUEST, request.requestId, EMPTY);
  }

  private onData(chunk: Buffer): void {
    this.idleTimer?.refresh();
    let records: FastCGIRecord[];
    try {
      records = this.decoder.push(chunk);
    } catch (err) {
      this.fail(err as Error);
      return;
    }
    for (const record of records) {
      if (this.failure) return;
      this.dispatch(record);
    }
  }

  private dispatch(record: FastCGIRecord): void {
    if (record.requestId === FCGI_NULL_REQUEST_ID) {
      this.dispatchManagement(record);
      return;
    }
    const request = this.requests.get(record.requestId);
    if (request === undefined) {
      this.keepUnclaimed(record);
      return;
    }
    switch (record.type) {
      case RecordType.STDOUT:
        if (record.content.length === 0) request.endStdout();
        else if (request.stdoutEnded) this.streamAfterEnd(record);
        else if (!request.pushStdout(record.content)) this.stall(request);
        return;
      case RecordType.STDERR:
        if (record.content.length === 0) request.endStderr();
        else if (request.stderrEnded) this.streamAfterEnd(record);
        else request.pushStderr(record.content);
        return;
      case RecordType.END_REQUEST: {
        let end: EndRequest;
        try {
          end = decodeEndRequest(record.content);
        } catch (err) {
          this.fail(err as Error);
          return;
        }
        this.requests.delete(record.requestId);
        this.unstall(request);
        request.finish(end);
        this.updateTimer();
        return;
      }
      default:
        this.fail(
          clientError(
            'FCGI_PROTOCOL_ERROR',
            `the application sent a ${recordTypeName(record.type)} record for request ${record.requestId}; ` +
              'an application may only send STDOUT, STDERR and END_REQUEST for a request',
          ),
        );
    }
  }

  private streamAfterEnd(record: FastCGIRecord): void {
    const name = recordTypeName(record.type);
    this.fail(
      clientError(
        'FCGI_PROTOCOL_ERROR',
        `the application sent ${name} data for request ${record.requestId} ` + `after the empty ${name} record that ended the stream`,
      ),
    );
  }

  private dispatchManagement(record: FastCGIRecord): void {
    const query = this.valueQueries[0];
    if (query !== undefined && record.type === RecordType.GET_VALUES_RESULT) {
      this.valueQueries.shift();
      try {
        query.resolve(Object.fromEntries(decodeParams(record.content)));
      } catch (err) {
        query.reject(err as Error);
      }
      this.updateTimer();
      return;
    }
    if (
      query !== undefined &&
      record.type === RecordType.UNKNOWN_TYPE &&
      record.content.length === 8 &&
      decodeUnknownType(record.content).type === RecordType.GET_VALUES
    ) {
      this.valueQueries.shift();
      query.reject(clientError('FCGI_UNKNOWN_TYPE', 'the application answered GET_VALUES with UNKNOWN_TYPE'));
      this.updateTimer();
      return;
    }
    this.keepUnclaimed(record);
  }

  private keepUnclaimed(record: FastCGIRecord): void {
    if (this.unclaimedBytes + record.content.length > UNCLAIMED_LIMIT) return; // bounded: nobody may ever read them
    this.unclaimed.push(record);
    this.unclaimedBytes += record.content.length;
    this.reader?.();
  }

  /** The consumer of a request's stdout is behind: stop reading the socket until it catches up. */
  private stall(request: OutstandingRequest): void {
    this.stalled.add(request);
    this.socket.pause();
    this.updateTimer();
  }

  private unstall(request: OutstandingRequest): void {
    if (this.stalled.delete(request) && this.stalled.size === 0 && !this.isClosed) this.socket.resume();
  }

  private resumeFor(request: OutstandingRequest): void {
    this.unstall(request);
    this.updateTimer();
  }

  /**
   * The idle timer runs only while something waits for the application and we are reading: a slow stdout consumer
   * or a slow body source is not the application's silence.
   */
  private updateTimer(): void {
    const waiting =
      !this.isClosed && (this.requests.size > 0 || this.valueQueries.length > 0) && this.stalled.size === 0 && this.sourceWaits === 0;
    if (this.settings.timeout === undefined || !waiting) {
      clearTimeout(this.idleTimer);
      this.idleTimer = undefined;
      return;
    }
    if (this.idleTimer === undefined) {
      this.idleTimer = setTimeout(() => this.onIdleTimeout(), this.settings.timeout);
      this.idleTimer.unref(); // the socket keeps the process alive while it matters
    }
  }

  private onIdleTimeout(): void {
    this.idleTimer = undefined;
    const waitingFor = [...this.requests.keys()].map((id) => `END_REQUEST of request ${id}`);
    if (this.valueQueries.length > 0) waitingFor.push('GET_VALUES_RESULT');
    this.fail(
      clientError(
        'FCGI_TIMEOUT',
        `nothing moved on the connection for ${this.settings.timeout} ms while waiting for ${waitingFor.join(', ')}`,
      ),
    );
  }

  /** Ends the connection because of `err`; everything still waiting is rejected with it. */
  private fail(err: Error): void {
    this.failure ??= err;
    this.socket.destroy();
  }

  private onClose(): void {
    this.isClosed = true;
    clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    for (const request of this.requests.values()) request.fail(this.closeError(request));
    this.requests.clear();
    this.stalled.clear();
    for (const query of this.valueQueries.splice(0)) query.reject(this.closeError(undefined));
    this.reader?.();
  }

  private closeError(request: OutstandingRequest | undefined): Error {
    if (this.failure) return this.failure;
    const how = this.closeRequested
      ? 'close() was called'
      : this.socketError
        ? `the connection failed (${(this.socketError as NodeJS.ErrnoException).code ?? this.socketError.message})`
        : 'the application closed the connection';
    const what = request
      ? `END_REQUEST for request ${request.requestId}${request.abortSent ? ' (after abort())' : ''}, ` +
        `having received ${request.stdoutBytes} bytes of stdout`
      : 'GET_VALUES_RESULT';
    return clientError('FCGI_CONNECTION_CLOSED', `${how} before ${what}`, this.socketError);
  }
}
