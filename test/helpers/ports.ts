// Free loopback TCP ports for servers the tests start.
import net from 'net';

/**
 * A port that was free a moment ago: listens on port 0, reads the port the kernel chose, closes.
 * Another process can take it before the caller binds it; `retryOnAddressInUse` covers that race.
 */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ host, port: 0, exclusive: true }, () => {
      const address = server.address();
      if (address === null || typeof address === 'string') {
        server.close();
        reject(new Error(`freePort: unexpected address ${String(address)}`));
        return;
      }
      server.close((err) => (err ? reject(err) : resolve(address.port)));
    });
  });
}

/**
 * Runs `start` with a fresh free port; when it fails because the port was taken in the meantime
 * (the error message says "Address already in use" or EADDRINUSE), tries again with another port.
 */
export async function retryOnAddressInUse<T>(start: (port: number) => Promise<T>, attempts = 3): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    try {
      return await start(port);
    } catch (err) {
      const text = err instanceof Error ? err.message : String(err);
      if (attempt >= attempts || !/Address already in use|EADDRINUSE/.test(text)) throw err;
    }
  }
}
