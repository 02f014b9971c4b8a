// The FastCGI listening socket `libfcgi serve` hands to its workers, created by the addon so nothing here accepts.
import fs from 'fs';
import path from 'path';
import { FastCGI } from '../fastcgi';

export interface AppSocket {
  readonly path: string;
  /** The listening socket's file descriptor in this process (for a child's stdio). */
  readonly fd: number;
  /** Stops listening and removes the socket file. */
  close(): void;
}

/** Inodes of the unix sockets that listen, from /proc/net/unix (Flags has __SO_ACCEPTCON, 0x10000). */
function listeningUnixInodes(): Set<string> {
  const inodes = new Set<string>();
  for (const line of fs.readFileSync('/proc/net/unix', 'utf8').split('\n').slice(1)) {
    // Num RefCount Protocol Flags Type St Inode Path
    const fields = line.trim().split(/\s+/);
    if (fields.length >= 7 && (parseInt(fields[3], 16) & 0x10000) !== 0) inodes.add(fields[6]);
  }
  return inodes;
}

/** This process's socket fds, by inode. */
function socketFds(): Map<string, number> {
  const sockets = new Map<string, number>();
  for (const entry of fs.readdirSync('/proc/self/fd')) {
    let link: string;
    try {
      link = fs.readlinkSync(`/proc/self/fd/${entry}`);
    } catch {
      continue; // the fd of the directory listing itself, closed by now
    }
    const match = /^socket:\[(\d+)\]$/.exec(link);
    if (match) sockets.set(match[1], Number(entry));
  }
  return sockets;
}

/**
 * Creates the unix socket the workers accept on. The addon creates it (a stale socket file is replaced, a live one
 * refused with EADDRINUSE) and never accepts on it here, since this process never calls accept(); a net.Server
 * could not be used, as libuv would accept connections on it in this process too. The addon does not expose the
 * fd, so it is found in /proc (Linux, as the addon itself).
 */
export function createAppSocket(socketPath: string): AppSocket {
  const absolute = path.resolve(socketPath);
  // The new listening socket is the one fd the constructor adds (nothing else here creates sockets meanwhile;
  // the path is no help: the addon binds under a temporary name and renames the file).
  const before = socketFds();
  const listener = new FastCGI({ path: absolute });
  const listening = listeningUnixInodes();
  const added = [...socketFds()].filter(([inode]) => !before.has(inode) && listening.has(inode));
  if (added.length !== 1) {
    listener.close();
    throw new Error(`cannot tell the fd of the socket listening on ${absolute} (found ${added.length} in /proc/self/fd)`);
  }
  const fd = added[0][1];
  let closed = false;
  return {
    path: absolute,
    fd,
    close() {
      if (closed) return;
      closed = true;
      listener.close();
    },
  };
}
