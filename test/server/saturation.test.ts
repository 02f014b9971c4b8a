// When every request slot is taken, the concurrent server stops accepting: further connections wait in the
// listen backlog (not accepted and held by the app), and are served, all of them, as slots free up.
import path from 'path';
import { FastCGIClient } from '../../lib/client';
import { parseCgiResponse } from '../../lib/client/cgi-response';
import { fixture, startApp } from '../helpers/app-process';
import { closeAfterAll } from '../helpers/cleanup';
import { openFdCount } from '../helpers/process';
import { tempDir } from '../helpers/tmp';
import { waitForEvent } from './harness';

jest.setTimeout(60000);

const CONCURRENCY = 2;
const CLIENTS = 12;
const SLEEP_MS = 400;

describe('concurrent server at its concurrency limit', () => {
  const track = closeAfterAll();

  test(`concurrency ${CONCURRENCY}, ${CLIENTS} clients of ${SLEEP_MS} ms each: the app holds at most ${CONCURRENCY} of their connections at once, and every client is answered`, async () => {
    const dir = track(tempDir('fcgi-sat-'));
    const socketPath = path.join(dir.path, 'app.sock');
    const app = track(
      await startApp(fixture('server-app.ts'), { listen: { path: socketPath }, env: { SERVER_CONCURRENCY: String(CONCURRENCY) } }),
    );
    const idleFds = openFdCount(app.pid);

    const ask = async (i: number) => {
      const client = await FastCGIClient.connect({ path: socketPath }, { timeout: 30000 });
      try {
        const params = { REQUEST_METHOD: 'GET', DOCUMENT_URI: '/sleep', QUERY_STRING: `ms=${SLEEP_MS}&id=${i}&log=1` };
        const { stdout } = await client.request({ params }).response();
        return parseCgiResponse(stdout).body.toString();
      } finally {
        await client.close();
      }
    };
    const sample = () => openFdCount(app.pid);
    // The first CONCURRENCY requests take every slot: wait until their handlers run.
    const first = Array.from({ length: CONCURRENCY }, (_, i) => ask(i));
    for (let i = 0; i < CONCURRENCY; i++) await waitForEvent(app.process, (e) => e.event === 'start' && e.id === String(i));
    const busyFds = sample();
    expect(busyFds - idleFds).toBeGreaterThanOrEqual(CONCURRENCY);
    // Then the rest connect and send their requests while no slot is free.
    const rest = Array.from({ length: CLIENTS - CONCURRENCY }, (_, i) => ask(CONCURRENCY + i));
    let most = busyFds;
    const started = Date.now();
    while (Date.now() - started < SLEEP_MS / 2) {
      most = Math.max(most, sample());
      await new Promise((r) => setTimeout(r, 5));
    }
    const bodies = await Promise.all([...first, ...rest]);
    expect(bodies).toEqual(Array.from({ length: CLIENTS }, () => `slept ${SLEEP_MS}`));
    // Accepted while every slot was busy, the other clients' connections would have shown here.
    expect(most - busyFds).toBe(0);
  });
});
