// Starts an app under the real systemd-socket-activate (Debian's systemd package), which does what a .socket unit
// does: it listens on each `-l` address, and on the first connection execs the app with the sockets as fd 3..
// and LISTEN_FDS, LISTEN_PID (its own PID, which the exec keeps) and LISTEN_FDNAMES (`--fdname`) set.
//
// How systemd-socket-activate (systemd 252) behaves: it prints "Listening on ADDR as FD." per socket on stderr,
// waits for a connection, then execs the command in its own process (so the PID we started is the app's). The
// app's environment is the LISTEN_* variables, a few of its own (PATH, HOME, TERM) and what `-E NAME=VALUE`
// passes, so the app's environment is passed with -E.
import fs from 'fs';
import { findBinary } from './binaries';
import { retryOnAddressInUse } from './ports';
import { socketInode, startProcess, waitForListeningPort, waitForSocketFile, type ProcessHandle, type SocketTarget } from './process';

export interface SocketActivateOptions {
  /** The sockets, in fd order (fd 3, 4, ...): a unix socket path, or `{ tcp: true }` for 127.0.0.1 on a free port. */
  listen: Array<{ path: string } | { tcp: true }>;
  /** Names for the sockets (LISTEN_FDNAMES), one per socket. */
  fdNames?: string[];
  /** The app and its arguments (exec'd, no shell). */
  command: string[];
  /** The app's whole environment (systemd-socket-activate passes nothing else but LISTEN_*). */
  env: NodeJS.ProcessEnv;
}

export interface SocketActivated {
  /** The PID of systemd-socket-activate, which becomes the app's once the first connection arrived. */
  readonly pid: number;
  readonly process: ProcessHandle;
  /** Where each socket listens, in fd order. */
  readonly addresses: SocketTarget[];
  /** SIGTERM (SIGKILL after 5 s); removes unix socket files. Idempotent. */
  close(): Promise<void>;
}

export async function startSocketActivate(options: SocketActivateOptions): Promise<SocketActivated> {
  const binary = findBinary('systemd-socket-activate');
  if (binary === undefined) throw new Error('systemd-socket-activate is not installed (Debian package systemd)');
  const tcpCount = options.listen.filter((l) => 'tcp' in l).length;
  if (tcpCount > 1) throw new Error('startSocketActivate: at most one TCP socket');
  const start = async (port: number): Promise<SocketActivated> => {
    const addresses: SocketTarget[] = options.listen.map((l) => ('tcp' in l ? { host: '127.0.0.1', port } : { path: l.path }));
    const args = [
      ...addresses.flatMap((a) => ['-l', 'path' in a ? a.path : `${a.host}:${a.port}`]),
      ...(options.fdNames ? [`--fdname=${options.fdNames.join(':')}`] : []),
      ...Object.entries(options.env).flatMap(([name, value]) => (value === undefined ? [] : ['-E', `${name}=${value}`])),
      '--',
      ...options.command,
    ];
    const previous = addresses.map((a) => ('path' in a ? socketInode(a.path) : undefined));
    const proc = await startProcess(binary, args, { env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } });
    try {
      for (const [i, a] of addresses.entries()) {
        if ('path' in a) await waitForSocketFile(a.path, 10000, { process: proc, previousIno: previous[i] });
        else await waitForListeningPort(proc, a.port, 10000);
      }
    } catch (err) {
      await proc.close({ signal: 'SIGKILL' });
      throw err;
    }
    let closing: Promise<void> | undefined;
    return {
      pid: proc.pid,
      process: proc,
      addresses,
      close() {
        closing ??= proc.close().then(() => {
          for (const a of addresses) if ('path' in a) fs.rmSync(a.path, { force: true });
        });
        return closing;
      },
    };
  };
  return tcpCount > 0 ? retryOnAddressInUse(start) : start(0);
}
