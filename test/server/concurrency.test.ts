// The concurrent server overlaps requests, leaves the libuv threadpool and event loop alone, and survives SIGCHLD storms.
import http from 'http';
import path from 'path';
import { describeWithBinaries } from '../helpers/binaries';
import { closeAfterEach } from '../helpers/cleanup';
import { tempDir } from '../helpers/tmp';
import { dataStream } from '../fixtures/server-data';
import { events, MiB, request, runFixture, sha256Of, signalBit, startStack, threadSignalMasks, waitForEvent } from './harness';

describeWithBinaries(['nginx'])('concurrent server through nginx', () => {
  const track = closeAfterEach();

  test('64 requests awaiting a 200 ms timer each overlap with concurrency 64: all done in under a quarter of 64 × 200 ms', async () => {
    const stack = track(await startStack('server-app.ts', { env: { SERVER_CONCURRENCY: '64' } }));
    // Warm up: tsx compiled the app already; this makes nginx's worker and the app's first request path hot.
    expect((await request(`${stack.url}/instant`)).text).toBe('ok');

    const t0 = performance.now();
    // agent: false, nginx keepalive off: 64 separate HTTP connections and 64 separate upstream connections.
    const responses = await Promise.all(Array.from({ length: 64 }, () => request(`${stack.url}/sleep?ms=200`)));
    const totalMs = performance.now() - t0;

    expect(responses.map((r) => r.status)).toEqual(Array(64).fill(200));
    expect(responses.every((r) => r.text === 'slept 200')).toBe(true);
    console.log(`64 × 200 ms requests at concurrency 64: ${totalMs.toFixed(0)} ms in total (sequential: 12800 ms)`);
    expect(totalMs).toBeLessThan((64 * 200) / 4);
    expect(totalMs).toBeGreaterThanOrEqual(200);
  });

  test('with concurrency 16, all 16 addon threads block SIGCHLD/SIGTERM/SIGINT/SIGUSR1/SIGPIPE/SIGWINCH, and while 50 child processes exit at once (a SIGCHLD storm) every concurrent upload and sleep succeeds', async () => {
    const stack = track(await startStack('server-app.ts', { env: { SERVER_CONCURRENCY: '16' } }));
    // The direct guard: every addon thread blocks the signals the JS thread handles. (The storm below alone rarely
    // lands a signal on an addon thread: the kernel prefers the main thread for process-directed signals.)
    const handled: NodeJS.Signals[] = ['SIGCHLD', 'SIGTERM', 'SIGINT', 'SIGUSR1', 'SIGPIPE', 'SIGWINCH'];
    const all = handled.reduce((mask, s) => mask | signalBit(s), 0n);
    const blockingAll = threadSignalMasks(stack.app.pid).filter((mask) => (mask & all) === all).length;
    expect(blockingAll).toBeGreaterThanOrEqual(16);

    const uploadBytes = 2 * MiB;
    const expectedSha = await sha256Of(dataStream(uploadBytes));

    for (let round = 0; round < 3; round++) {
      // Worker threads are busy reading bodies and waiting for handlers while the children exit.
      const storm = request(`${stack.url}/spawn?n=50`);
      const uploads = Array.from({ length: 10 }, () =>
        request(`${stack.url}/upload`, {
          method: 'POST',
          body: dataStream(uploadBytes),
          headers: { 'Content-Length': String(uploadBytes), 'Content-Type': 'application/octet-stream' },
        }),
      );
      const sleeps = Array.from({ length: 20 }, () => request(`${stack.url}/sleep?ms=50`));

      const stormResponse = await storm;
      expect(stormResponse.status).toBe(200);
      expect(stormResponse.text).toBe('spawned 50');
      for (const r of await Promise.all(uploads)) {
        expect(r.status).toBe(200);
        expect(JSON.parse(r.text)).toMatchObject({ bytes: uploadBytes, sha256: expectedSha });
      }
      for (const r of await Promise.all(sleeps)) {
        expect(r.status).toBe(200);
        expect(r.text).toBe('slept 50');
      }
    }
    expect(events(stack.app.process).filter((e) => e.event === 'error')).toEqual([]);
    expect(stack.nginx.errorLog()).not.toMatch(/\[(error|crit|alert|emerg)\]/);
  });
});

describeWithBinaries(['nginx'])('concurrent server behind nginx keeping upstream connections (fastcgi_keep_conn on)', () => {
  const track = closeAfterEach();

  test('with 16 clients and concurrency 1, requests that arrive on new upstream connections are not starved by busy kept ones: every client is served throughout, none waits over 1.5 s', async () => {
    const stack = track(await startStack('server-app.ts', { env: { SERVER_CONCURRENCY: '1' }, nginx: { keepConn: true, keepalive: 64 } }));
    const clients = 16;
    const until = performance.now() + 3000;
    const completed: number[] = Array(clients).fill(0);
    const worstMs: number[] = Array(clients).fill(0);
    await Promise.all(
      Array.from({ length: clients }, async (_, i) => {
        const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
        try {
          while (performance.now() < until) {
            const t0 = performance.now();
            const r = await request(`${stack.url}/sleep?ms=10`, { agent, timeoutMs: 30000 });
            expect(r.status).toBe(200);
            worstMs[i] = Math.max(worstMs[i], performance.now() - t0);
            completed[i]++;
          }
        } finally {
          agent.destroy();
        }
      }),
    );
    console.log(
      `requests per client in 3 s: ${completed.join(' ')}; worst wait per client (ms): ${worstMs.map((m) => m.toFixed(0)).join(' ')}`,
    );
    // Fair service: one request at a time, ~11 ms each, 16 clients: about 16 requests each, waits of about 180 ms.
    expect(Math.min(...completed)).toBeGreaterThanOrEqual(3);
    expect(Math.max(...worstMs)).toBeLessThan(1500);
  });
});

describe('concurrent server and the rest of Node in the same process', () => {
  const track = closeAfterEach();

  test('while 16 accept threads wait (UV_THREADPOOL_SIZE=4), fs.promises.readFile and crypto.pbkdf2 finish promptly and a setInterval keeps ticking', async () => {
    const dir = track(tempDir('fcgi-srv-'));
    const proc = await runFixture('server-threadpool.ts', {
      FCGI_SOCKET_PATH: path.join(dir.path, 'app.sock'),
      SERVER_CONCURRENCY: '16',
      UV_THREADPOOL_SIZE: '4',
    });
    track(proc);
    const result = await waitForEvent(proc, (e) => e.event === 'result', { timeoutMs: 20000 });
    console.log('idle server, concurrency 16 vs threadpool 4:', JSON.stringify(result));

    expect(result).toMatchObject({ concurrency: 16, threadpoolSize: 4 });
    // If the accept threads were threadpool threads, these would never finish (the fixture would time out).
    expect(result.readFileMs).toBeLessThan(1000);
    expect(result.pbkdf2Ms).toBeLessThan(1000);
    // 500 ms of a 10 ms interval: ~50 ticks on a free event loop, 0 on a blocked one; leave room for a slow CI.
    expect(result.ticks).toBeGreaterThanOrEqual(20);
    expect(await proc.exited).toEqual({ code: 0, signal: null });
  });
});
