// The FastCGI listening socket `libfcgi serve` hands to its workers, created by the addon so nothing here accepts.
import path from 'path';
import { FastCGI } from '../fastcgi';

export interface AppSocket {
  readonly path: string;
  /** The listening socket's file descriptor in this process (for a child's stdio). */
  readonly fd: number;
  /** Stops listening and removes the socket file. */
  close(): void;
}

/**
 * Creates the unix socket the workers accept on. The addon creates it (a stale socket file is replaced, a live one
 * refused with EADDRINUSE) and never accepts on it here, since this process never calls accept(); a net.Server
 * could not be used, as libuv would accept connections on it in this process too.
 */
export function createAppSocket(socketPath: string): AppSocket {
  const absolute = path.resolve(socketPath);
  const listener = new FastCGI({ path: absolute });
  const fd = listener.fd;
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
