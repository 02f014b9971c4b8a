// Starts a FastCGI app the way production does with spawn-fcgi: the listening unix socket handed over as fd 0.
//
// How spawn-fcgi 1.6 behaves (checked on Debian bookworm):
// - It binds and listens on `-s PATH` (a stale socket file is replaced; a live one gives "socket is already in
//   use, can't spawn" and exit 255), chmods it to `-M`, and puts it on the app's fd 0.
// - `-n`: no fork; spawn-fcgi execs the app itself, so its PID is the app's PID and the app's stdout/stderr are
//   ours. Only one app process.
// - `-F N` (without -n): forks N children, each calls setsid() and gets stdout/stderr on /dev/null; for each it
//   prints "spawn-fcgi: child spawned successfully: PID: 1234" on stdout, waits ~100 ms to catch an immediate
//   exit ("child exited with: N" on stderr, exit 1), and finally exits 0 itself. The children are orphans
//   (reparented to PID 1): nothing stops them but us, by PID; their exit is reaped by PID 1, not by us.
import fs from 'fs';
import { findBinary } from './binaries';
import { startProcess, stopPids, waitForSocketFile, socketInode, type ProcessHandle } from './process';

export interface SpawnFcgiOptions {
  socketPath: string;
  /** The app and its arguments (exec'd directly, no shell). */
  command: string[];
  /** Added to this process's environment. */
  env?: NodeJS.ProcessEnv;
  /** App processes; default 1 (`-n`, the app stays our child); more uses `-F N`. */
  children?: number;
  /** Socket permissions (`-M`); default 0o600. */
  socketMode?: number;
}

export interface SpawnFcgi {
  /** The app processes. */
  readonly pids: number[];
  readonly socketPath: string;
  /** With one child (`-n`): the app process, whose stdout/stderr are collected. */
  readonly process?: ProcessHandle;
  /** Stops every app process by PID (SIGTERM, SIGKILL after 5 s), waits until they are reaped, removes the socket. */
  close(): Promise<void>;
}

export async function startSpawnFcgi(options: SpawnFcgiOptions): Promise<SpawnFcgi> {
  const spawnFcgi = findBinary('spawn-fcgi');
  if (spawnFcgi === undefined) throw new Error('spawn-fcgi is not installed');
  const children = options.children ?? 1;
  const mode = (options.socketMode ?? 0o600).toString(8).padStart(4, '0');
  const fork = children > 1 ? ['-F', String(children)] : ['-n'];
  const args = ['-s', options.socketPath, '-M', mode, ...fork, '--', ...options.command];
  const env = { ...process.env, ...options.env };
  const previousIno = socketInode(options.socketPath);
  const proc = await startProcess(spawnFcgi, args, { env });
  const removeSocket = () => fs.rmSync(options.socketPath, { force: true });

  if (children === 1) {
    try {
      await waitForSocketFile(options.socketPath, 10000, { process: proc, previousIno });
    } catch (err) {
      await proc.close({ signal: 'SIGKILL' });
      throw err;
    }
    let closing: Promise<void> | undefined;
    return {
      pids: [proc.pid],
      socketPath: options.socketPath,
      process: proc,
      close() {
        closing ??= proc.close().then(removeSocket);
        return closing;
      },
    };
  }

  // -F: spawn-fcgi's own exit says the children are running (or one died at once).
  const status = await proc.exited;
  const pids = [...proc.stdout().matchAll(/child spawned successfully: PID: (\d+)/g)].map((m) => Number(m[1]));
  if (status.code !== 0 || pids.length !== children) {
    await stopPids(pids);
    throw new Error(
      `${proc.description} failed (code ${status.code}, signal ${status.signal})\n` + `stdout: ${proc.stdout()}\nstderr: ${proc.stderr()}`,
    );
  }
  let closing: Promise<void> | undefined;
  return {
    pids,
    socketPath: options.socketPath,
    close() {
      closing ??= stopPids(pids).then(removeSocket);
      return closing;
    },
  };
}
