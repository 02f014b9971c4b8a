// `for await (const req of fcgi)` on the accept loop: one request at a time, the event loop free while it waits.
import fs from 'fs';
import { describeWithBinaries } from '../helpers/binaries';
import { closeAfterEach } from '../helpers/cleanup';
import { request, startStack, waitForEvent } from './harness';

interface LoopResponse {
  n: number;
  ticks: number;
  maxInFlight: number;
}

describeWithBinaries(['nginx'])('for await over a FastCGI accept loop, through nginx', () => {
  const track = closeAfterEach();

  test('serves requests one at a time while a setInterval keeps ticking, and break closes the socket and lets the process exit 0', async () => {
    const stack = track(await startStack('server-for-await.ts'));
    const app = stack.app.process;
    const get = async (route: string): Promise<LoopResponse> => {
      const r = await request(`${stack.url}${route}`);
      expect(r.status).toBe(200);
      return JSON.parse(r.text) as LoopResponse;
    };

    const first = await get('/a');
    // The loop now waits for the next request; a blocked event loop would not tick (10 ms interval: ~50 ticks).
    await new Promise((resolve) => setTimeout(resolve, 500));
    const second = await get('/b');
    console.log(`ticks while for await waited 500 ms: ${second.ticks - first.ticks}`);
    expect(second.ticks - first.ticks).toBeGreaterThanOrEqual(20);

    // 4 at once on 4 connections: served one after the other, never two in the loop body together.
    const t0 = performance.now();
    const sleepers = await Promise.all(Array.from({ length: 4 }, () => get('/sleep?ms=200')));
    const totalMs = performance.now() - t0;
    expect(sleepers.map((r) => r.n).sort()).toEqual([3, 4, 5, 6]);
    expect(sleepers.every((r) => r.maxInFlight === 1)).toBe(true);
    expect(totalMs).toBeGreaterThanOrEqual(4 * 200 - 20);

    expect((await get('/break')).n).toBe(7);
    await expect(waitForEvent(app, (e) => e.event === 'loop-ended')).resolves.toMatchObject({ socketExists: false, requests: 7 });
    expect(await app.exited).toEqual({ code: 0, signal: null });
    expect(fs.existsSync(stack.socketPath)).toBe(false);
    expect((await request(`${stack.url}/after`)).status).toBe(502);
  });

  test('SIGTERM while for await waits ends the loop: the process exits 0 and the socket file is removed', async () => {
    const stack = track(await startStack('server-for-await.ts'));
    const app = stack.app.process;
    expect((await request(`${stack.url}/a`)).status).toBe(200);
    app.kill('SIGTERM');
    await expect(waitForEvent(app, (e) => e.event === 'loop-ended')).resolves.toMatchObject({ socketExists: false, requests: 1 });
    expect(await app.exited).toEqual({ code: 0, signal: null });
    expect(fs.existsSync(stack.socketPath)).toBe(false);
  });
});
