// A 20,000-request soak through nginx (keep-alive both sides) leaves the app's fds, threads and RSS flat.
import http from 'http';
import { describeWithBinaries } from '../helpers/binaries';
import { closeAfterAll } from '../helpers/cleanup';
import { openFdCount, rssBytes, threadCount } from '../helpers/process';
import { MiB, request, startStack, type Stack } from './harness';

const TOTAL = 20_000;
const WARM_UP = 2_000;
const HTTP_CONCURRENCY = 32;

interface Sample {
  requests: number;
  fds: number;
  threads: number;
  rss: number;
}

describeWithBinaries(['nginx'])('concurrent server soak through nginx', () => {
  const track = closeAfterAll();
  let stack: Stack;
  let agent: http.Agent;

  beforeAll(async () => {
    stack = track(
      await startStack('server-app.ts', {
        env: { SERVER_CONCURRENCY: '32' },
        nginx: { keepConn: true, keepalive: 32 },
      }),
    );
    agent = new http.Agent({ keepAlive: true, maxSockets: HTTP_CONCURRENCY });
    track({ close: () => agent.destroy() });
  });

  test('20,000 requests at concurrency 32 leave open fds (at most 4 more), thread count (equal) and RSS (< 30 MiB growth) flat after a 2,000-request warm-up', async () => {
    const pid = stack.app.pid;
    let done = 0;
    let failed = 0;
    const sample = (): Sample => ({ requests: done, fds: openFdCount(pid), threads: threadCount(pid), rss: rssBytes(pid) });
    /** `count` more requests from HTTP_CONCURRENCY loops, each on a kept-alive connection of the agent. */
    const runRequests = async (count: number) => {
      let issued = 0;
      const loop = async () => {
        while (issued < count) {
          issued++;
          const r = await request(`${stack.url}/sleep?ms=${done % 3}`, { agent });
          if (r.status !== 200 || !r.text.startsWith('slept ')) failed++;
          done++;
        }
      };
      await Promise.all(Array.from({ length: HTTP_CONCURRENCY }, loop));
    };

    const t0 = performance.now();
    await runRequests(WARM_UP);
    const warm = sample();
    await runRequests(TOTAL - WARM_UP);
    const end = sample();
    const seconds = (performance.now() - t0) / 1000;

    const row = (s: Sample) =>
      `${String(s.requests).padStart(6)} requests: fds ${s.fds}, threads ${s.threads}, RSS ${(s.rss / MiB).toFixed(1)} MiB`;
    console.log(
      [
        `soak: ${TOTAL} requests in ${seconds.toFixed(1)} s (${(TOTAL / seconds).toFixed(0)} req/s), ${failed} failed`,
        `after warm-up ${row(warm)}`,
        `at the end    ${row(end)}`,
        `growth: fds ${end.fds - warm.fds}, threads ${end.threads - warm.threads}, RSS ${((end.rss - warm.rss) / MiB).toFixed(1)} MiB`,
      ].join('\n'),
    );
    expect(failed).toBe(0);
    expect(done).toBe(TOTAL);
    // A leak grows with the 18,000 requests after the warm-up. Fewer fds at the end is not one: nginx may
    // open upstream connections beyond its keepalive cache of 32 while all are busy and close the surplus
    // when they go idle, so the count at one instant moves by a few either way.
    expect(end.fds - warm.fds).toBeLessThanOrEqual(4);
    expect(end.threads).toBe(warm.threads);
    expect(end.rss - warm.rss).toBeLessThan(30 * MiB);
    expect(stack.app.process.exitStatus()).toBeUndefined();
  }, 120000);
});
