// Plain CGI: one request from the process environment and stdin, output to stdout, as fcgi2's FCGX_IsCGI and
// Perl's FCGI::Request do when a script is not started by a FastCGI server.
import fs from 'fs';
import {
  ServerEventKind,
  native,
  type NativeAcceptLoop,
  type NativeOutput,
  type NativeServerIo,
  type NativeStats,
  type ServerEventHandler,
} from './native';
import { receivedSystemdSockets } from './systemd';

/**
 * True when this process was started as a FastCGI application: fd 0 is a listening socket (spawn-fcgi,
 * mod_fcgid, `libfcgi serve`) or systemd passed sockets to it (LISTEN_PID is this process).
 */
export function isFastCGI(): boolean {
  // systemd's variables are removed once its sockets are taken (as sd_listen_fds(1) does); remember them.
  if (receivedSystemdSockets()) return true;
  if (process.env.LISTEN_PID === String(process.pid) && Number(process.env.LISTEN_FDS) > 0) return true;
  return native.isListeningSocket(0);
}

/** True when the process looks like a CGI invocation: not FastCGI, and GATEWAY_INTERFACE is set. */
export function isCgiInvocation(): boolean {
  return process.env.GATEWAY_INTERFACE !== undefined && !isFastCGI();
}

/** The process environment as params joined like native's params(): bytes as latin1, as FastCGI params are. */
function cgiParams(): string {
  const parts: string[] = [];
  for (const [name, value] of Object.entries(process.env)) {
    if (value !== undefined) parts.push(Buffer.from(`${name}=${value}`, 'utf8').toString('latin1'));
  }
  return parts.join('\0');
}

function writeAll(fd: number, data: string | Uint8Array): boolean {
  let buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  while (buf.byteLength > 0) {
    let n: number;
    try {
      n = fs.writeSync(fd, buf);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EAGAIN') continue; // a non-blocking pipe that is full
      return false; // EPIPE: the web server is gone
    }
    buf = buf.subarray(n);
  }
  return true;
}

/** Reads stdin up to max bytes (blocking: the accept loop is synchronous by design). */
function readStdin(max: number): Buffer {
  const chunks: Buffer[] = [];
  let total = 0;
  while (total < max) {
    const chunk = Buffer.allocUnsafe(Math.min(max - total, 65536));
    let n: number;
    try {
      n = fs.readSync(0, chunk, 0, chunk.length, null);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EAGAIN') continue;
      break;
    }
    if (n === 0) break;
    chunks.push(chunk.subarray(0, n));
    total += n;
  }
  return Buffer.concat(chunks, total);
}

/** The accept loop's I/O for one CGI request: accept() is true once, then false. */
export class CgiAcceptLoop implements NativeAcceptLoop {
  #state: 'waiting' | 'serving' | 'done' = 'waiting';
  #left: number; // body bytes left to read (CONTENT_LENGTH; stdin may stay open past it)

  constructor() {
    const declared = Number(process.env.CONTENT_LENGTH);
    this.#left = Number.isSafeInteger(declared) && declared > 0 ? declared : 0;
  }
  accept(): boolean {
    if (this.#state !== 'waiting') {
      this.#state = 'done';
      return false;
    }
    this.#state = 'serving';
    return true;
  }
  params(): string {
    return cgiParams();
  }
  role(): 'RESPONDER' {
    return 'RESPONDER';
  }
  write(data: string | Uint8Array): boolean {
    return writeAll(1, data);
  }
  writeError(data: string | Uint8Array): boolean {
    return writeAll(2, data);
  }
  read(max?: number): Buffer {
    const got = readStdin(Math.min(max ?? Infinity, this.#left));
    this.#left -= got.length;
    return got;
  }
  readData(): Buffer {
    return Buffer.alloc(0);
  }
  flush(): boolean {
    return true;
  }
  finish(): void {
    this.#state = 'done';
  }
  setExitStatus(status: number): void {
    process.exitCode = status;
  }
  close(): void {
    this.#state = 'done';
  }
  address(): null {
    return null;
  }
  stats(): NativeStats {
    return { idle: 0, queued: 0, refusedByLimits: 0 };
  }
  aborted(): boolean {
    return false;
  }
  fd(): number {
    return -1;
  }
  requestShutdown(): void {
    if (this.#state === 'waiting') this.#state = 'done';
  }
}

/**
 * The concurrent server's I/O for one CGI request: it is handed to the handler, its output goes to stdout, and
 * then every "worker" exits so the server closes. Output is written synchronously (stdout to a pipe or file is
 * synchronous on Linux); the body is read through process.stdin, on the event loop.
 */
export class CgiServerIo implements NativeServerIo {
  readonly #slots: number;
  readonly #onEvent: ServerEventHandler;
  #state: 'idle' | 'serving' | 'ended' | 'exited' = 'idle';
  #stopping = false;
  #written = 0;
  #left: number;
  #stdinUsed = false; // process.stdin is created on first use: only then is there anything to pause

  constructor(concurrency: number, onEvent: ServerEventHandler) {
    this.#slots = concurrency;
    this.#onEvent = onEvent;
    const declared = Number(process.env.CONTENT_LENGTH);
    this.#left = Number.isSafeInteger(declared) && declared > 0 ? declared : 0;
  }

  start(): void {
    setImmediate(() => {
      if (this.#stopping) return this.#exitAll();
      this.#state = 'serving';
      this.#onEvent(ServerEventKind.Request, 0, 0, cgiParams(), 'RESPONDER', undefined, undefined);
    });
  }
  write(_request: number, data: NativeOutput, notify: boolean): void {
    if (this.#state !== 'serving') return;
    this.#put(data);
    if (notify) {
      const total = this.#written;
      queueMicrotask(() => this.#onEvent(ServerEventKind.Written, 0, 0, total, undefined, undefined, undefined));
    }
  }
  writeError(_request: number, data: string | Uint8Array): void {
    if (this.#state === 'serving') writeAll(2, data);
  }
  flush(): void {}
  read(_request: number, max: number, filterData?: boolean): void {
    if (filterData || this.#left === 0) {
      setImmediate(() => this.#onEvent(ServerEventKind.Data, 0, 0, Buffer.alloc(0), true, undefined, filterData === true || undefined));
      return;
    }
    const stdin = process.stdin;
    this.#stdinUsed = true;
    const take = (): void => {
      const chunk = stdin.read() as Buffer | null;
      if (chunk === null) {
        if (stdin.readableEnded) return void this.#body(Buffer.alloc(0), true);
        stdin.once('readable', take);
        return;
      }
      let part = chunk;
      if (part.length > this.#left) part = chunk.subarray(0, this.#left);
      if (part.length > max) {
        stdin.unshift(part.subarray(max));
        part = part.subarray(0, max);
      }
      this.#left -= part.length;
      this.#body(part, this.#left === 0);
    };
    take();
  }
  end(_request: number, data: NativeOutput | undefined, exitStatus: number): void {
    if (this.#state !== 'serving') return;
    if (data !== undefined) this.#put(data);
    if (exitStatus !== 0) process.exitCode = exitStatus;
    this.#state = 'ended';
    if (this.#stdinUsed) {
      process.stdin.pause(); // an unread body must not keep the process alive
      process.stdin.unref?.();
    }
    if (this.#stopping) this.#exitAll();
  }
  watchPeer(): void {}
  stopAccepting(): void {
    this.#stopping = true;
    if (this.#state === 'ended') this.#exitAll();
  }
  interrupt(): void {
    if (this.#state === 'serving') this.end(0, undefined, 0);
  }
  join(): void {}
  ref(): void {}
  unref(): void {}
  address(): null {
    return null;
  }
  stats(): NativeStats {
    return { idle: 0, queued: 0, refusedByLimits: 0 };
  }

  #body(chunk: Buffer, eof: boolean): void {
    this.#onEvent(ServerEventKind.Data, 0, 0, chunk, eof, undefined, undefined);
  }
  #put(data: NativeOutput): void {
    for (const piece of Array.isArray(data) ? data : [data]) {
      writeAll(1, piece);
      this.#written += typeof piece === 'string' ? Buffer.byteLength(piece) : piece.byteLength;
    }
  }
  #exitAll(): void {
    if (this.#state === 'exited') return;
    this.#state = 'exited';
    setImmediate(() => {
      for (let slot = 0; slot < this.#slots; slot++) {
        this.#onEvent(ServerEventKind.WorkerExit, slot, 0, undefined, undefined, undefined, undefined);
      }
    });
  }
}
