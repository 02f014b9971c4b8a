// What every server helper shares: the handle, the start-and-wait sequence, temp dirs, running as root.
import fs from 'fs';
import os from 'os';
import path from 'path';
import {
  closeProcessTree,
  descendantPids,
  socketInode,
  startProcess,
  waitForListeningPort,
  waitForSocketFile,
  type ProcessHandle,
  type SocketTarget,
} from './process';
import { makeTempDir } from './tmp';

/** Where a web server finds the FastCGI application: a unix socket path or a loopback host and port. */
export type Upstream = SocketTarget;

/** A process the tests started (a web server, php-fpm, spawn-fcgi), with its temp dir. */
export interface ServerProcess {
  /** The temp dir holding its config, logs, pid file and temp files; removed by close(). */
  readonly dir: string;
  /** The generated configuration. */
  readonly configText: string;
  readonly process: ProcessHandle;
  /** The main PID and every process below it right now (workers, spawned apps). */
  pids(): number[];
  /** The error log so far (file contents plus the process's stderr). */
  errorLog(): string;
  /** Stops the main process and every process below it (by PID), then removes the temp dir. Idempotent. */
  close(): Promise<void>;
}

/** A web server listening on 127.0.0.1:port. */
export interface WebServer extends ServerProcess {
  readonly port: number;
  /** `http://127.0.0.1:PORT` */
  readonly url: string;
}

export const runningAsRoot = (): boolean => process.getuid?.() === 0;

/** Reads a file that may not exist yet. */
export function readIfExists(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

/** A config string literal (nginx, Apache and lighttpd all accept double quotes with backslash escapes). */
export function quote(value: string): string {
  return `"${value.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

export interface LaunchSpec {
  dir: string;
  command: string;
  args: string[];
  configFile: string;
  configText: string;
  /**
   * How to tell it is ready: the process holds a socket listening on this TCP port (a port taken by someone else
   * in the meantime is then an error, not a false start), or a FastCGI socket file appears (not connected to, so
   * the app never sees a request-less test connection).
   */
  ready: { tcpPort: number } | { socketFile: string };
  errorLogFile: string;
  env?: NodeJS.ProcessEnv;
  /** Signal for close(); default SIGTERM. */
  stopSignal?: NodeJS.Signals;
  /** Extra cleanup after the processes are gone (before the temp dir is removed). */
  cleanup?: () => void;
}

/**
 * Writes the config, starts the process and waits until it is `ready`. When the process fails to
 * start, it is stopped and the error says why (stderr and error log included, so a port race is recognisable);
 * the temp dir is kept for a retry and removed by the caller's close or failure path.
 */
export async function launch(spec: LaunchSpec): Promise<ServerProcess> {
  fs.writeFileSync(spec.configFile, spec.configText);
  const ready = spec.ready;
  const previousIno = 'socketFile' in ready ? socketInode(ready.socketFile) : undefined;
  const proc = await startProcess(spec.command, spec.args, { cwd: spec.dir, env: spec.env });
  const errorLog = () => readIfExists(spec.errorLogFile) + proc.stderr();
  try {
    if ('tcpPort' in ready) await waitForListeningPort(proc, ready.tcpPort, 10000);
    else await waitForSocketFile(ready.socketFile, 10000, { process: proc, previousIno });
  } catch (err) {
    await closeProcessTree(proc, { signal: 'SIGKILL' });
    const log = errorLog();
    fs.rmSync(spec.errorLogFile, { force: true }); // a retry in the same dir starts with a clean log
    throw new Error(`${(err as Error).message}\nerror log: ${log}\nconfig ${spec.configFile}:\n${spec.configText}`);
  }
  let closing: Promise<void> | undefined;
  return {
    dir: spec.dir,
    configText: spec.configText,
    process: proc,
    pids: () => [proc.pid, ...descendantPids(proc.pid)],
    errorLog,
    close() {
      closing ??= (async () => {
        await closeProcessTree(proc, { signal: spec.stopSignal ?? 'SIGTERM' });
        spec.cleanup?.();
        fs.rmSync(spec.dir, { recursive: true, force: true });
      })();
      return closing;
    },
  };
}

/** A fresh temp dir for a server, removed again when `start` fails. */
export async function withTempDir<T>(prefix: string, start: (dir: string) => Promise<T>): Promise<T> {
  const dir = makeTempDir(prefix);
  try {
    return await start(dir);
  } catch (err) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

/** `file` inside `dir`. */
export const inDir = (dir: string, file: string): string => path.join(dir, file);

/**
 * Lets a server that runs as another user (Apache's children as www-data when we are root) reach `target`: a
 * socket becomes 0666, a file world-readable (and executable if it is for its owner), and `target`'s directories
 * world-searchable. Only paths under the OS temp dir are changed, where tests keep their files; elsewhere (the
 * repository) permissions are left as they are. Does nothing when not running as root.
 */
export function shareWithServerUser(target: string): void {
  if (!runningAsRoot()) return;
  const tmp = fs.realpathSync(os.tmpdir());
  const inside = (p: string) => p.startsWith(`${tmp}${path.sep}`);
  const absolute = path.resolve(target);
  if (!inside(absolute)) return;
  const stat = fs.statSync(absolute);
  const mode = stat.mode & 0o7777;
  if (stat.isSocket()) fs.chmodSync(absolute, 0o666);
  else if (stat.isDirectory()) fs.chmodSync(absolute, mode | 0o555);
  else fs.chmodSync(absolute, mode | 0o444 | (mode & 0o100 ? 0o111 : 0));
  for (let dir = path.dirname(absolute); inside(dir); dir = path.dirname(dir)) {
    fs.chmodSync(dir, (fs.statSync(dir).mode & 0o7777) | 0o111);
  }
}
