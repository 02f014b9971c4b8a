// What the concurrent-server tests share: a fixture app behind real nginx, its JSON event lines, HTTP with agents.
import { createHash } from 'crypto';
import fs from 'fs';
import http from 'http';
import net from 'net';
import os from 'os';
import path from 'path';
import type { Readable } from 'stream';
import { RecordDecoder } from '../../lib/client/record-decoder';
import {
  encodeBeginRequest,
  encodeParams,
  encodeRecord,
  encodeStreamRecords,
  RecordType,
  Role,
  type FastCGIRecord,
} from '../../lib/client/protocol';
import { appCommand, appEnv, fixture, REPO_ROOT, startApp, type AppProcess } from '../helpers/app-process';
import { startNginx, type NginxOptions, type NginxServer } from '../helpers/nginx';
import { startProcess, type ProcessHandle } from '../helpers/process';
import { makeTempDir } from '../helpers/tmp';

export type AppEvent = { event: string } & Record<string, unknown>;

/** The JSON lines a fixture printed on stdout so far (other lines are ignored). */
export function events(proc: ProcessHandle): AppEvent[] {
  const out: AppEvent[] = [];
  for (const line of proc.stdout().split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      out.push(JSON.parse(line) as AppEvent);
    } catch {
      // a line still being written
    }
  }
  return out;
}

/**
 * Resolves with the first event (counting from `after`, an index into events()) matching `match`, as soon as the
 * fixture prints it (woken by its stdout); rejects after `timeoutMs` or when the process exits first.
 */
export function waitForEvent(
  proc: ProcessHandle,
  match: (e: AppEvent) => boolean,
  options: { timeoutMs?: number; after?: number } = {},
): Promise<AppEvent> {
  const { timeoutMs = 10000, after = 0 } = options;
  return new Promise((resolve, reject) => {
    const stdout = proc.child.stdout;
    const check = (): boolean => {
      const found = events(proc).slice(after).find(match);
      if (found === undefined) return false;
      done();
      resolve(found);
      return true;
    };
    const onExit = () => {
      if (check()) return;
      done();
      reject(new Error(`${proc.description} exited before the event\nstdout: ${proc.stdout()}\nstderr: ${proc.stderr()}`));
    };
    // setImmediate: the collector of startProcess appends on the same 'data' event, after this listener maybe.
    const onData = () => setImmediate(check);
    const timer = setTimeout(() => {
      done();
      reject(new Error(`no such event within ${timeoutMs} ms\nstdout: ${proc.stdout()}\nstderr: ${proc.stderr()}`));
    }, timeoutMs);
    const done = () => {
      clearTimeout(timer);
      stdout?.off('data', onData);
      proc.child.off('exit', onExit);
    };
    stdout?.on('data', onData);
    proc.child.once('exit', onExit);
    if (proc.exitStatus()) onExit();
    else check();
  });
}

export interface Stack {
  readonly dir: string;
  readonly socketPath: string;
  readonly app: AppProcess;
  readonly nginx: NginxServer;
  readonly url: string;
  /** Stops nginx, then the app (SIGTERM), then removes the temp dir. */
  close(): Promise<void>;
}

/** test/fixtures/<name> listening on a unix socket in a fresh temp dir, nginx in front of it. */
export async function startStack(
  name: string,
  options: { env?: NodeJS.ProcessEnv; nginx?: Omit<NginxOptions, 'upstream'> } = {},
): Promise<Stack> {
  const dir = makeTempDir('fcgi-srv-');
  const socketPath = path.join(dir, 'app.sock');
  let app: AppProcess | undefined;
  try {
    app = await startApp(fixture(name), { listen: { path: socketPath }, env: options.env });
    const nginx = await startNginx({ upstream: app.address, ...options.nginx });
    const started = app;
    return {
      dir,
      socketPath,
      app,
      nginx,
      url: nginx.url,
      async close() {
        try {
          await nginx.close();
        } finally {
          await started.close();
          fs.rmSync(dir, { recursive: true, force: true });
        }
      },
    };
  } catch (err) {
    await app?.close();
    fs.rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

/** Runs test/fixtures/<name> to its end (no socket to wait for): the handle, to await `exited`. */
export function runFixture(name: string, env: NodeJS.ProcessEnv = {}): Promise<ProcessHandle> {
  const [node, ...args] = appCommand(fixture(name));
  return startProcess(node, args, { cwd: REPO_ROOT, env: appEnv(env) });
}

export interface Response {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  text: string;
}

export interface RequestOptions {
  method?: string;
  /** A string/Buffer, or a stream piped into the request (sent chunked unless headers give Content-Length). */
  body?: string | Buffer | Readable;
  headers?: http.OutgoingHttpHeaders;
  /** Default: none (a fresh connection). */
  agent?: http.Agent;
  timeoutMs?: number;
}

function send(
  url: string,
  options: RequestOptions,
  onResponse: (res: http.IncomingMessage) => void,
  onError: (err: Error) => void,
): http.ClientRequest {
  const req = http.request(url, { method: options.method ?? 'GET', headers: options.headers, agent: options.agent ?? false }, onResponse);
  const timeoutMs = options.timeoutMs ?? 20000;
  req.setTimeout(timeoutMs, () => req.destroy(new Error(`${url}: no response within ${timeoutMs} ms`)));
  req.on('error', onError);
  const body = options.body;
  if (body === undefined || typeof body === 'string' || Buffer.isBuffer(body)) req.end(body);
  else body.pipe(req);
  return req;
}

/** One HTTP request; the whole response body in memory. */
export function request(url: string, options: RequestOptions = {}): Promise<Response> {
  return new Promise((resolve, reject) => {
    send(
      url,
      options,
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const body = Buffer.concat(chunks);
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body, text: body.toString('utf8') });
        });
      },
      reject,
    );
  });
}

/** One HTTP request whose response body is hashed as it arrives (nothing kept): status, length and sha256. */
export function requestHashed(url: string, options: RequestOptions = {}): Promise<{ status: number; bytes: number; sha256: string }> {
  return new Promise((resolve, reject) => {
    send(
      url,
      options,
      (res) => {
        const hash = createHash('sha256');
        let bytes = 0;
        res.on('data', (c: Buffer) => {
          hash.update(c);
          bytes += c.length;
        });
        res.on('error', reject);
        res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes, sha256: hash.digest('hex') }));
      },
      reject,
    );
  });
}

/** A request the test can cut (as a browser closing the tab): `abort()` destroys its connection. */
export function abortableRequest(url: string): { abort(): void; settled: Promise<unknown> } {
  let req: http.ClientRequest | undefined;
  const settled = new Promise((resolve) => {
    req = send(
      url,
      {},
      (res) => {
        res.on('error', resolve);
        res.on('close', resolve);
        res.resume();
      },
      resolve,
    );
  });
  return { abort: () => req?.destroy(), settled };
}

/** sha256 of a whole stream, hex. */
export async function sha256Of(stream: Readable): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of stream) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

export const MiB = 1024 * 1024;

/** The blocked-signal mask (SigBlk of /proc/PID/task/TID/status) of every thread of a process. */
export function threadSignalMasks(pid: number): bigint[] {
  const masks: bigint[] = [];
  for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
    try {
      const status = fs.readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8');
      const hex = /^SigBlk:\s*([0-9a-f]+)$/m.exec(status)?.[1];
      if (hex !== undefined) masks.push(BigInt(`0x${hex}`));
    } catch {
      // the thread ended meanwhile
    }
  }
  return masks;
}

/** The bit of `signal` in a SigBlk mask. */
export function signalBit(signal: NodeJS.Signals): bigint {
  const number = os.constants.signals[signal];
  return 1n << BigInt(number - 1);
}

/** The bytes of one FastCGI RESPONDER request (id 1, no keep-conn, empty body) for `uri` with `query`. */
export function fcgiRequestBytes(uri: string, query = ''): Buffer {
  const params = encodeParams({ REQUEST_METHOD: 'GET', DOCUMENT_URI: uri, QUERY_STRING: query, SERVER_PROTOCOL: 'HTTP/1.1' });
  return Buffer.concat([
    encodeRecord(RecordType.BEGIN_REQUEST, 1, encodeBeginRequest(Role.RESPONDER, false)),
    encodeStreamRecords(RecordType.PARAMS, 1, params),
    encodeRecord(RecordType.STDIN, 1),
  ]);
}

/** Sends one request straight to the app's socket (no web server) and collects every record until the app closes. */
export function fcgiExchange(socketPath: string, uri: string, query = '', timeoutMs = 10000): Promise<FastCGIRecord[]> {
  return new Promise((resolve, reject) => {
    const decoder = new RecordDecoder();
    const records: FastCGIRecord[] = [];
    const socket = net.connect(socketPath);
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error(`no close from the app within ${timeoutMs} ms`)));
    socket.once('connect', () => socket.write(fcgiRequestBytes(uri, query)));
    socket.on('data', (chunk: Buffer) => records.push(...decoder.push(chunk)));
    socket.once('error', reject);
    socket.once('close', (hadError) => {
      if (!hadError) resolve(records);
    });
  });
}
