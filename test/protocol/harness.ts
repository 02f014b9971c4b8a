// The protocol tests' tools: test/fixtures/protocol-app.ts as a child process, exact request bytes, raw connections.
import crypto from 'crypto';
import fs from 'fs';
import net from 'net';
import path from 'path';
import {
  FCGI_HEADER_LEN,
  ProtocolStatus,
  RecordDecoder,
  RecordType,
  Role,
  decodeEndRequest,
  encodeBeginRequest,
  encodeParams,
  encodeRecord,
  type EndRequestBody,
  type FastCGIRecord,
  type ParamsInput,
} from '../../lib/client';
import { appCommand, appEnv, fixture, REPO_ROOT, waitForOutput } from '../helpers/app-process';
import { isRunning, socketInode, startProcess, waitForSocketFile, type ExitStatus, type ProcessHandle } from '../helpers/process';
import { makeTempDir } from '../helpers/tmp';

export { ProtocolStatus, RecordType, Role };

/** The fixture app, listening on a unix socket in its own temp dir. */
export interface ProtocolApp {
  readonly proc: ProcessHandle;
  readonly path: string;
  /** True while the process runs (exited and reaped counts as gone). */
  alive(): boolean;
  /** SIGTERM (SIGKILL after 5 s), then removes the temp dir; resolves with the exit status. */
  close(): Promise<ExitStatus>;
}

export interface AppOptions {
  /** More listen options (timeouts, limits) next to the socket path. */
  listen?: Record<string, unknown>;
  env?: NodeJS.ProcessEnv;
}

/** Starts test/fixtures/protocol-app.ts and waits until it is inside accept(). */
export async function startProtocolApp(options: AppOptions = {}): Promise<ProtocolApp> {
  const dir = makeTempDir('fcgi-proto-');
  const socketPath = path.join(dir, 'app.sock');
  const [node, ...args] = appCommand(fixture('protocol-app.ts'));
  const env = appEnv({ ...options.env, APP_OPTIONS: JSON.stringify({ path: socketPath, ...options.listen }) });
  const proc = await startProcess(node, args, { cwd: REPO_ROOT, env });
  try {
    await waitForSocketFile(socketPath, 20000, { process: proc, previousIno: socketInode(socketPath) });
    await waitForOutput(proc, 'accepting', 20000);
  } catch (err) {
    await proc.close({ signal: 'SIGKILL' });
    fs.rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    proc,
    path: socketPath,
    alive: () => proc.exitStatus() === undefined && isRunning(proc.pid),
    close: async () => {
      const status = await proc.close();
      fs.rmSync(dir, { recursive: true, force: true });
      return status;
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Request bytes

export const record = encodeRecord;

export interface BeginOptions {
  role?: number;
  keepConn?: boolean;
  padding?: number;
}

export function begin(id = 1, options: BeginOptions = {}): Buffer {
  return encodeRecord(
    RecordType.BEGIN_REQUEST,
    id,
    encodeBeginRequest(options.role ?? Role.RESPONDER, options.keepConn ?? false),
    options.padding ?? 0,
  );
}

export interface StreamOptions {
  padding?: number;
  /** Content bytes per record (default 65535). */
  chunk?: number;
  /** Append the empty record that ends the stream (default true). */
  end?: boolean;
}

/** A stream (PARAMS, STDIN, DATA) as records of at most `chunk` bytes, each padded by `padding`, then the empty one. */
export function stream(type: number, id: number, data: Uint8Array, options: StreamOptions = {}): Buffer {
  const chunk = options.chunk ?? 0xffff;
  const padding = options.padding ?? 0;
  const parts: Buffer[] = [];
  for (let offset = 0; offset < data.length; offset += chunk) {
    parts.push(encodeRecord(type, id, data.subarray(offset, offset + chunk), padding));
  }
  if (options.end ?? true) parts.push(encodeRecord(type, id, Buffer.alloc(0), padding));
  return Buffer.concat(parts);
}

export interface RequestBytesOptions extends BeginOptions {
  id?: number;
  params?: ParamsInput;
  body?: Uint8Array | string;
  /** Padding on every record. */
  padding?: number;
  chunk?: number;
}

/** A whole request: BEGIN_REQUEST, PARAMS, empty PARAMS, STDIN, empty STDIN. */
export function requestBytes(options: RequestBytesOptions = {}): Buffer {
  const id = options.id ?? 1;
  const body = typeof options.body === 'string' ? Buffer.from(options.body) : (options.body ?? Buffer.alloc(0));
  const s = { padding: options.padding, chunk: options.chunk };
  return Buffer.concat([
    begin(id, options),
    stream(RecordType.PARAMS, id, encodeParams(options.params ?? {}), s),
    stream(RecordType.STDIN, id, body, s),
  ]);
}

/** A 4-byte name-value length as the wire has it (high bit set), for hand-made PARAMS content. */
export function length4(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE((n | 0x80000000) >>> 0);
  return b;
}

// ---------------------------------------------------------------------------------------------------------------
// Raw connections

/** One connection to the app as a web server would hold it: bytes out, records in, the close seen. */
export class RawConnection {
  readonly records: FastCGIRecord[] = [];
  /** Every byte received, in order (records hide padding). */
  readonly chunks: Buffer[] = [];
  closed = false;
  /** Bytes that did not decode (a broken reply), or undefined. */
  decodeError: Error | undefined;
  private readonly decoder = new RecordDecoder();
  private waiters: Array<() => void> = [];

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.chunks.push(chunk);
      try {
        this.records.push(...this.decoder.push(chunk));
      } catch (err) {
        this.decodeError ??= err as Error;
      }
      this.notify();
    });
    socket.on('error', () => {}); // ECONNRESET after the app closed: 'close' follows
    socket.on('close', () => {
      this.closed = true;
      this.notify();
    });
  }

  static connect(socketPath: string): Promise<RawConnection> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(socketPath);
      socket.once('error', reject);
      socket.once('connect', () => {
        socket.off('error', reject);
        resolve(new RawConnection(socket));
      });
    });
  }

  write(bytes: Uint8Array): Promise<void> {
    return new Promise((resolve, reject) => this.socket.write(bytes, (err) => (err ? reject(err) : resolve())));
  }

  /** Half-closes: the app reads EOF. */
  end(): void {
    this.socket.end();
  }

  destroy(): void {
    this.socket.destroy();
  }

  /** Records of one type (and request id). */
  recordsOf(type: number, requestId?: number): FastCGIRecord[] {
    return this.records.filter((r) => r.type === type && (requestId === undefined || r.requestId === requestId));
  }

  endRequests(requestId?: number): EndRequestBody[] {
    return this.recordsOf(RecordType.END_REQUEST, requestId).map((r) => decodeEndRequest(r.content));
  }

  /** Waits until `done()` holds (checked on every record and on close); false after `timeoutMs`. */
  waitFor(done: () => boolean, timeoutMs = 10000): Promise<boolean> {
    if (done()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const check = () => {
        if (!done()) return;
        cleanup();
        resolve(true);
      };
      const timer = setTimeout(() => {
        cleanup();
        resolve(done());
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        this.waiters = this.waiters.filter((w) => w !== check);
      };
      this.waiters.push(check);
    });
  }

  /** Waits for `count` END_REQUEST records (of `requestId`, if given). */
  waitForEnds(count = 1, requestId?: number, timeoutMs = 10000): Promise<boolean> {
    return this.waitFor(() => this.recordsOf(RecordType.END_REQUEST, requestId).length >= count, timeoutMs);
  }

  waitForClose(timeoutMs = 10000): Promise<boolean> {
    return this.waitFor(() => this.closed, timeoutMs);
  }

  private notify(): void {
    for (const w of [...this.waiters]) w();
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Answers

/** What the fixture app saw, as it reported it. */
export interface AppAnswer {
  n: number;
  role: string;
  env: Record<string, string>;
  body: Buffer;
  readError?: string;
}

/** The app's answers on a connection (one per request id, in order); STDOUT of each request decoded. */
export function answers(conn: RawConnection): AppAnswer[] {
  const out: AppAnswer[] = [];
  let text = '';
  for (const r of conn.records) {
    if (r.type === RecordType.STDOUT) {
      text += r.content.toString('latin1');
    } else if (r.type === RecordType.END_REQUEST && text.length > 0) {
      out.push(parseAnswer(text));
      text = '';
    }
  }
  return out;
}

function parseAnswer(stdout: string): AppAnswer {
  const split = stdout.indexOf('\r\n\r\n');
  if (split < 0) throw new Error(`no CGI head in ${JSON.stringify(stdout.slice(0, 200))}`);
  const json = JSON.parse(Buffer.from(stdout.slice(split + 4), 'latin1').toString('utf8')) as Omit<AppAnswer, 'body'> & { body: string };
  return { ...json, body: Buffer.from(json.body, 'base64') };
}

/** Sends one request on a new connection and returns the app's answer and END_REQUEST (fails if either is missing). */
export async function ask(app: ProtocolApp, options: RequestBytesOptions = {}): Promise<AppAnswer & { end: EndRequestBody }> {
  const conn = await RawConnection.connect(app.path);
  try {
    await conn.write(requestBytes(options));
    if (!(await conn.waitForEnds(1))) throw new Error(`no END_REQUEST within 10 s; records: ${describeRecords(conn)}`);
    const [answer] = answers(conn);
    if (!answer) throw new Error(`no answer; records: ${describeRecords(conn)}`);
    return { ...answer, end: conn.endRequests()[0] };
  } finally {
    conn.destroy();
  }
}

/** The env the app sees for `params` (fcgi2 puts FCGI_ROLE first). */
export function expectedEnv(params: Record<string, string>, role = 'RESPONDER'): Record<string, string> {
  return { FCGI_ROLE: role, ...params };
}

/**
 * The check after every malformed case: the same process is alive and answers a normal request exactly
 * (params, body, END_REQUEST). Returns the answer, whose `n` tells how many requests reached the app.
 */
export async function expectServesNormally(app: ProtocolApp): Promise<AppAnswer> {
  expect(app.alive()).toBe(true);
  const token = crypto.randomBytes(6).toString('hex');
  const body = crypto.randomBytes(300);
  const params = { REQUEST_METHOD: 'POST', SCRIPT_NAME: '/check', X_TOKEN: token };
  const answer = await ask(app, { params, body });
  expect(answer.env).toEqual(expectedEnv(params));
  expect(answer.body.equals(body)).toBe(true);
  expect(answer.end).toEqual({ appStatus: 0, protocolStatus: ProtocolStatus.REQUEST_COMPLETE });
  expect(app.alive()).toBe(true);
  return answer;
}

export function describeRecords(conn: RawConnection): string {
  const list = conn.records.map((r) => `${r.type}/${r.requestId}/${r.content.length}`).join(' ');
  return `[${list}]${conn.closed ? ' closed' : ''}`;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export { FCGI_HEADER_LEN };
