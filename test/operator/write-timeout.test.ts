// writeTimeout (SO_SNDTIMEO on each accepted connection): a peer that asks for a large response and never reads it
// holds the thread writing to it only that long. The request is then dropped (its connection closed) and a request
// on another connection is answered: in the accept loop (one thread) and in the concurrent server at concurrency 1.
// Without the socket option the write blocks forever and the second request is never answered.
import path from 'path';
import { createServer, type Server } from '../../lib';
import { FastCGIClient, fcgiRequest } from '../../lib/client';
import { fixture, startApp } from '../helpers/app-process';
import { closeAfterEach } from '../helpers/cleanup';
import { makeTempDir } from '../helpers/tmp';

jest.setTimeout(60000);

const WRITE_TIMEOUT_MS = 1500;
const BIG = 32 * 1024 * 1024; // far more than the socket buffers and the client's 1 MiB before it stops reading

/**
 * Asks for BIG bytes on a connection that reads at most ~1 MiB (FastCGIClient stops reading once its stdout holds
 * that much and nobody consumes it). Resolves with when the connection ended, as seen by the client.
 */
async function stalledReader(sock: string): Promise<{ closed: Promise<number>; client: FastCGIClient }> {
  const client = await FastCGIClient.connect({ path: sock });
  const req = client.request({ params: { REQUEST_METHOD: 'GET', REQUEST_URI: `/big?n=${BIG}`, QUERY_STRING: `n=${BIG}` } });
  const started = Date.now();
  // done rejects (connection closed) or resolves (END_REQUEST): either way the server let go of it.
  const closed = req.done.then(
    () => Date.now() - started,
    () => Date.now() - started,
  );
  return { closed, client };
}

describe('writeTimeout', () => {
  const track = closeAfterEach();

  test('accept loop: a peer that never reads a large response is dropped after writeTimeout; the next connection is answered', async () => {
    const sock = path.join(makeTempDir(), 'app.sock');
    const app = track(
      await startApp(fixture('operator-app.ts'), { listen: { path: sock }, env: { WRITE_TIMEOUT: String(WRITE_TIMEOUT_MS) } }),
    );
    const stalled = await stalledReader(sock);
    try {
      const t0 = Date.now();
      const next = await fcgiRequest({ path: sock, timeout: 20000 }, { params: { REQUEST_METHOD: 'GET', REQUEST_URI: '/next' } });
      const waited = Date.now() - t0;
      expect(next.body.toString()).toBe('ok');
      // It waited for the stalled write to time out (one thread), and not much longer.
      expect(waited).toBeGreaterThanOrEqual(WRITE_TIMEOUT_MS - 200);
      expect(waited).toBeLessThan(WRITE_TIMEOUT_MS + 8000);
      // The loop saw the write fail (print() returned false).
      expect(app.process.stdout()).toContain('{"event":"big","ok":false}');
    } finally {
      await stalled.client.close();
    }
  });

  describe('concurrent server', () => {
    let server: Server | undefined;
    afterEach(async () => {
      await server?.close();
      server = undefined;
    });

    test('concurrency 1: a peer that never reads a large response is dropped after writeTimeout; the next connection is answered', async () => {
      const sock = path.join(makeTempDir(), 'app.sock');
      const big = Buffer.alloc(BIG, 'x');
      server = createServer(
        (req) => {
          if (req.param('REQUEST_URI')?.startsWith('/big')) req.print(big);
          else req.header({ 'Content-Type': 'text/plain' }).print('ok');
        },
        { handleSignals: false, concurrency: 1, closeTimeout: 1000 },
      );
      await server.listen({ path: sock, writeTimeout: WRITE_TIMEOUT_MS });
      const stalled = await stalledReader(sock);
      try {
        const t0 = Date.now();
        const next = await fcgiRequest({ path: sock, timeout: 20000 }, { params: { REQUEST_METHOD: 'GET', REQUEST_URI: '/next' } });
        const waited = Date.now() - t0;
        expect(next.body.toString()).toBe('ok');
        expect(waited).toBeGreaterThanOrEqual(WRITE_TIMEOUT_MS - 200);
        expect(waited).toBeLessThan(WRITE_TIMEOUT_MS + 8000);
        expect(server.stats()).toMatchObject({ completed: 2, requestsInFlight: 0 });
      } finally {
        await stalled.client.close();
      }
    });
  });
});
