// A byte-transparent unix-socket proxy that counts connections: shows how many FastCGI connections a web server opened.
import net from 'net';
import type { SocketTarget } from './process';

export interface CountingProxy {
  /** Where the web server should connect. */
  readonly address: { path: string };
  /** Connections accepted so far. */
  readonly connections: number;
  /** Stops listening and destroys every open connection pair. */
  close(): Promise<void>;
}

/** Listens on `path` and forwards every connection, byte for byte in both directions, to `target`. */
export function startCountingProxy(path: string, target: SocketTarget): Promise<CountingProxy> {
  let accepted = 0;
  const open = new Set<net.Socket>();
  const keep = (socket: net.Socket) => {
    open.add(socket);
    socket.on('close', () => open.delete(socket));
    socket.on('error', () => socket.destroy());
  };
  const server = net.createServer((downstream) => {
    accepted++;
    const upstream = net.connect(target);
    keep(downstream);
    keep(upstream);
    downstream.pipe(upstream);
    upstream.pipe(downstream);
    downstream.on('close', () => upstream.destroy());
    upstream.on('close', () => downstream.destroy());
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ path }, () =>
      resolve({
        address: { path },
        get connections() {
          return accepted;
        },
        close: () =>
          new Promise<void>((done) => {
            for (const socket of open) socket.destroy();
            server.close(() => done());
          }),
      }),
    );
  });
}
