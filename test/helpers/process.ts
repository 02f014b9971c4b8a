// Child processes for integration tests: start, collect output, stop by PID, wait for sockets; /proc probes.
import { spawn, type ChildProcess, type StdioOptions } from 'child_process';
import fs from 'fs';
import net from 'net';

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface StartProcessOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Default `['ignore', 'pipe', 'pipe']`; stdout/stderr are collected only where they are pipes. */
  stdio?: StdioOptions;
}

export interface CloseOptions {
  /** First signal; default SIGTERM. */
  signal?: NodeJS.Signals;
  /** How long to wait for the exit before SIGKILL; default 5000 ms. */
  timeoutMs?: number;
}

export interface ProcessHandle {
  readonly child: ChildProcess;
  readonly pid: number;
  /** The command line, for messages. */
  readonly description: string;
  /** Output collected so far (the last 4 MiB). */
  stdout(): string;
  stderr(): string;
  /** Resolves when the process has exited (and been reaped); never rejects. */
  readonly exited: Promise<ExitStatus>;
  /** The exit status once it is known. */
  exitStatus(): ExitStatus | undefined;
  /** Sends a signal unless the process has already exited. */
  kill(signal?: NodeJS.Signals): void;
  /** `signal` (SIGTERM), SIGKILL after `timeoutMs`, then resolves with the exit status. Idempotent. */
  close(options?: CloseOptions): Promise<ExitStatus>;
}

const OUTPUT_LIMIT = 4 * 1024 * 1024;

/** Collects a stream's text, keeping the tail when it grows past OUTPUT_LIMIT. */
function collect(stream: NodeJS.ReadableStream | null): () => string {
  let text = '';
  stream?.setEncoding('utf8');
  stream?.on('data', (chunk: string) => {
    text += chunk;
    if (text.length > OUTPUT_LIMIT) text = text.slice(text.length - OUTPUT_LIMIT);
  });
  return () => text;
}

/**
 * Spawns `cmd` and resolves once it is running (rejects when it cannot be started, e.g. ENOENT).
 * The handle's `close()` stops exactly this PID; processes it forks are its own business (every server helper
 * stops a master that stops its workers).
 */
export function startProcess(cmd: string, args: string[], options: StartProcessOptions = {}): Promise<ProcessHandle> {
  const description = [cmd, ...args].join(' ');
  const child = spawn(cmd, args, {
    env: options.env ?? process.env,
    cwd: options.cwd,
    stdio: options.stdio ?? ['ignore', 'pipe', 'pipe'],
  });
  const stdout = collect(child.stdout);
  const stderr = collect(child.stderr);
  let status: ExitStatus | undefined;
  // 'exit', not 'close': grandchildren (server workers) may hold the pipes open after the process is gone.
  const exited = new Promise<ExitStatus>((resolve) => {
    child.once('exit', (code, signal) => {
      status = { code, signal };
      resolve(status);
    });
  });

  return new Promise((resolve, reject) => {
    // Kept for the process's life: a later 'error' (a failed kill) must not become an uncaught exception.
    child.on('error', (err) => {
      if (child.pid === undefined) reject(new Error(`cannot start ${description}: ${err.message}`));
    });
    child.once('spawn', () => {
      const pid = child.pid as number;
      let closing: Promise<ExitStatus> | undefined;
      const handle: ProcessHandle = {
        child,
        pid,
        description,
        stdout,
        stderr,
        exited,
        exitStatus: () => status,
        kill(signal: NodeJS.Signals = 'SIGTERM') {
          if (status === undefined) child.kill(signal);
        },
        close({ signal = 'SIGTERM', timeoutMs = 5000 }: CloseOptions = {}) {
          closing ??= (async () => {
            if (status !== undefined) return status;
            child.kill(signal);
            let timer: NodeJS.Timeout | undefined;
            const timedOut = new Promise<'timeout'>((r) => {
              timer = setTimeout(() => r('timeout'), timeoutMs);
            });
            const first = await Promise.race([exited, timedOut]);
            clearTimeout(timer);
            if (first === 'timeout') child.kill('SIGKILL');
            return exited;
          })();
          return closing;
        },
      };
      resolve(handle);
    });
  });
}

export type SocketTarget = { path: string } | { host: string; port: number };

export function describeTarget(target: SocketTarget): string {
  return 'path' in target ? `unix:${target.path}` : `${target.host}:${target.port}`;
}

function tryConnect(target: SocketTarget): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(target);
    socket.setTimeout(1000, () => socket.destroy(new Error('connect timed out')));
    socket.once('connect', () => {
      socket.destroy();
      resolve();
    });
    socket.once('error', reject);
  });
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Retries `net.connect` (10 ms backoff doubling to 100 ms) until a connection succeeds, and closes it.
 * For servers that announce readiness no other way. With `process`, fails at once when that process exits.
 */
export async function waitForSocket(target: SocketTarget, timeoutMs = 5000, options: { process?: ProcessHandle } = {}): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let delay = 10;
  for (;;) {
    let lastError: unknown;
    try {
      await tryConnect(target);
      return;
    } catch (err) {
      lastError = err;
    }
    const proc = options.process;
    const status = proc?.exitStatus();
    if (proc && status) {
      throw new Error(
        `${proc.description} exited (code ${status.code}, signal ${status.signal}) before ${describeTarget(target)} ` +
          `accepted connections\nstderr: ${proc.stderr()}\nstdout: ${proc.stdout()}`,
      );
    }
    if (Date.now() >= deadline) {
      const reason = lastError instanceof Error ? lastError.message : String(lastError);
      throw new Error(`nothing accepted connections on ${describeTarget(target)} within ${timeoutMs} ms (${reason})`);
    }
    await sleep(Math.min(delay, Math.max(1, deadline - Date.now())));
    delay = Math.min(delay * 2, 100);
  }
}

/**
 * Inodes of sockets listening on TCP `port` (any address) in the network namespace of process `pid`, from
 * /proc/PID/net/tcp and tcp6 (the same tables as /proc/net/* unless the process runs in another namespace).
 */
function listeningInodes(port: number, pid: number): Set<string> {
  const inodes = new Set<string>();
  for (const table of [`/proc/${pid}/net/tcp`, `/proc/${pid}/net/tcp6`]) {
    let text = '';
    try {
      text = fs.readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
      const fields = line.trim().split(/\s+/);
      if (fields.length < 10 || fields[3] !== '0A') continue;
      if (parseInt(fields[1].split(':')[1], 16) === port) inodes.add(fields[9]);
    }
  }
  return inodes;
}

/** True when process `pid` holds a socket listening on TCP `port`. */
export function holdsListeningPort(pid: number, port: number): boolean {
  const inodes = listeningInodes(port, pid);
  if (inodes.size === 0) return false;
  let fds: string[];
  try {
    fds = fs.readdirSync(`/proc/${pid}/fd`);
  } catch {
    return false;
  }
  return fds.some((fd) => {
    try {
      const link = fs.readlinkSync(`/proc/${pid}/fd/${fd}`);
      return link.startsWith('socket:[') && inodes.has(link.slice(8, -1));
    } catch {
      return false;
    }
  });
}

/**
 * Waits until `proc` itself holds a socket listening on TCP `port`. Stronger than waitForSocket for a server we
 * start: when another process took the port first, connecting would succeed (to the other process) while our
 * server fails to bind; this fails instead, as soon as the server exits. Polls every 10 ms.
 */
export async function waitForListeningPort(proc: ProcessHandle, port: number, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (holdsListeningPort(proc.pid, port)) return;
    const status = proc.exitStatus();
    if (status) {
      throw new Error(
        `${proc.description} exited (code ${status.code}, signal ${status.signal}) before listening on port ` +
          `${port}\nstderr: ${proc.stderr()}\nstdout: ${proc.stdout()}`,
      );
    }
    if (Date.now() >= deadline) {
      throw new Error(`${proc.description} did not listen on port ${port} within ${timeoutMs} ms`);
    }
    await sleep(10);
  }
}

/** Sends a signal to a PID that is not our child; a process that is already gone is not an error. */
export function signalPid(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

/** The state letter of /proc/PID/stat (R, S, D, Z, ...), or undefined when there is no such process. */
function procState(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // "pid (comm) S ...": comm may contain spaces and parentheses, so read after the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  } catch {
    return undefined;
  }
}

/**
 * True while the PID runs. A zombie counts as gone: it has exited and only waits for its parent to reap it
 * (orphans are reaped by PID 1, which in some containers takes a while).
 */
export function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
  }
  const state = procState(pid);
  return state !== undefined && state !== 'Z' && state !== 'X';
}

/**
 * Waits until `process.kill(pid, 0)` fails with ESRCH for every PID (exited and reaped): there is no exit event
 * for processes that are not our children, so this polls every 20 ms, bounded by `timeoutMs`.
 */
export async function waitForPidsGone(pids: number[], timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const exists = (pid: number) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch (err) {
      return (err as NodeJS.ErrnoException).code !== 'ESRCH';
    }
  };
  for (;;) {
    const left = pids.filter(exists);
    if (left.length === 0) return;
    if (Date.now() >= deadline) {
      const states = left.map((pid) => `${pid} (${procState(pid) ?? '?'})`).join(', ');
      throw new Error(`processes still exist after ${timeoutMs} ms: ${states}`);
    }
    await sleep(20);
  }
}

/** Number of open file descriptors of a process (entries of /proc/PID/fd). */
export function openFdCount(pid: number): number {
  return fs.readdirSync(`/proc/${pid}/fd`).length;
}

function statusField(pid: number, field: string): string {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = new RegExp(`^${field}:\\s*(.*)$`, 'm').exec(status);
  if (!match) throw new Error(`/proc/${pid}/status has no ${field} field`);
  return match[1];
}

/** Resident set size in bytes (/proc/PID/status VmRSS). */
export function rssBytes(pid: number): number {
  const [value, unit] = statusField(pid, 'VmRSS').split(/\s+/);
  if (unit !== 'kB') throw new Error(`unexpected VmRSS unit ${unit}`);
  return Number(value) * 1024;
}

/** Number of threads of a process (/proc/PID/status Threads). */
export function threadCount(pid: number): number {
  return Number(statusField(pid, 'Threads'));
}

/** Start time of a process in clock ticks since boot (field 22 of /proc/PID/stat): tells a PID from its reuse. */
function startTime(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/** Every process below `pid` right now (children, their children, ...), from /proc/PID/task/TID/children. */
export function descendantPids(pid: number): number[] {
  const found: number[] = [];
  const visit = (parent: number) => {
    let tasks: string[];
    try {
      tasks = fs.readdirSync(`/proc/${parent}/task`);
    } catch {
      return;
    }
    for (const tid of tasks) {
      let children = '';
      try {
        children = fs.readFileSync(`/proc/${parent}/task/${tid}/children`, 'utf8');
      } catch {
        continue;
      }
      for (const child of children.split(' ').filter(Boolean).map(Number)) {
        found.push(child);
        visit(child);
      }
    }
  };
  visit(pid);
  return found;
}

/**
 * Stops processes that are not (necessarily) our children, by PID: `options.signal` (SIGTERM), SIGKILL for any that
 * still run after `timeoutMs` (same PID and start time, so never a reused PID), then waits until all are reaped.
 */
export async function stopPids(pids: number[], options: CloseOptions = {}): Promise<void> {
  const { signal = 'SIGTERM', timeoutMs = 5000 } = options;
  const started = pids.map((pid) => ({ pid, start: startTime(pid) }));
  for (const { pid } of started) signalPid(pid, signal);
  try {
    await waitForPidsGone(pids, timeoutMs);
    return;
  } catch {
    // fall through to SIGKILL
  }
  for (const { pid, start } of started) {
    if (start !== undefined && startTime(pid) === start && isRunning(pid)) signalPid(pid, 'SIGKILL');
  }
  await waitForPidsGone(pids, timeoutMs);
}

/**
 * Stops a server: notes every process below it, closes the main process (`options.signal`, SIGKILL after the
 * bound), SIGKILLs any noted process that outlived it (orphans a master failed to stop), and waits until all of
 * them are reaped. Returns every PID it stopped, the main one first.
 */
export async function closeProcessTree(handle: ProcessHandle, options: CloseOptions = {}): Promise<number[]> {
  const below = descendantPids(handle.pid);
  await handle.close(options);
  await stopPids(below, { signal: 'SIGKILL', timeoutMs: options.timeoutMs });
  return [handle.pid, ...below];
}

/**
 * Waits until `path` is a listening unix socket other than the one there before (`previousIno`, from `socketInode`):
 * how to see that a process has bound its FastCGI socket without connecting to it (a test connection would reach the
 * app as a request-less connection). With `process`, fails at once when that process exits. Polls every 10 ms.
 */
export async function waitForSocketFile(
  path: string,
  timeoutMs = 5000,
  options: { process?: ProcessHandle; previousIno?: number } = {},
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ino = socketInode(path);
    // The file appears at bind(), before listen(): until the socket listens, a connection would be refused.
    if (ino !== undefined && ino !== options.previousIno && unixSocketListening(path)) return;
    const proc = options.process;
    const status = proc?.exitStatus();
    if (proc && status) {
      throw new Error(
        `${proc.description} exited (code ${status.code}, signal ${status.signal}) before creating the socket ` +
          `${path}\nstderr: ${proc.stderr()}\nstdout: ${proc.stdout()}`,
      );
    }
    if (Date.now() >= deadline) throw new Error(`no socket appeared at ${path} within ${timeoutMs} ms`);
    await sleep(10);
  }
}

/** True when a unix socket bound to `path` listens (/proc/net/unix, flag __SO_ACCEPTCON); nothing connects to it. */
export function unixSocketListening(path: string): boolean {
  let text: string;
  try {
    text = fs.readFileSync('/proc/net/unix', 'utf8');
  } catch {
    return true; // no /proc: the file alone has to do
  }
  // Num RefCount Protocol Flags Type St Inode Path
  for (const line of text.split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/);
    if (fields.length >= 8 && fields.slice(7).join(' ') === path && (parseInt(fields[3], 16) & 0x10000) !== 0) return true;
  }
  return false;
}

/** The inode of the unix socket at `path`, or undefined when there is none. */
export function socketInode(path: string): number | undefined {
  try {
    const stat = fs.statSync(path);
    return stat.isSocket() ? stat.ino : undefined;
  } catch {
    return undefined;
  }
}
