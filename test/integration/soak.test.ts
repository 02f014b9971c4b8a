// Soak: 5,000 requests through nginx to examples/hello.ts leave the app's open fds and RSS flat.
import http from 'http';
import path from 'path';
import { example, startApp } from '../helpers/app-process';
import { describeWithBinaries } from '../helpers/binaries';
import { closeAfterEach } from '../helpers/cleanup';
import { httpRequest } from '../helpers/http';
import { startNginx, type NginxServer } from '../helpers/nginx';
import { openFdCount, rssBytes } from '../helpers/process';
import { tempDir } from '../helpers/tmp';

const WARM_UP = 500;
const MEASURED = 5000;
const CONCURRENCY = 8;
const MiB = 1024 * 1024;

/**
 * The app's open fd count once it has settled: the app closes a connection in its own poll loop shortly after
 * nginx lets go of it, and nothing signals that, so read until 3 readings 20 ms apart agree (at most 2 s).
 */
async function settledFdCount(pid: number): Promise<number> {
  const deadline = Date.now() + 2000;
  let last = openFdCount(pid);
  let same = 1;
  while (same < 3 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
    const now = openFdCount(pid);
    same = now === last ? same + 1 : 1;
    last = now;
  }
  return last;
}

describeWithBinaries(['nginx'])('soak: hello.ts behind nginx', () => {
  const track = closeAfterEach();

  const mix = `FastCGI kept and fresh connections, HTTP keep-alive and not, ${CONCURRENCY} at a time`;
  test(`${MEASURED} requests (${mix}): fd count flat, RSS growth < 20 MiB, every count answered once`, async () => {
    const dir = track(tempDir()).path;
    const app = track(await startApp(example('hello.ts'), { listen: { path: path.join(dir, 'hello.sock') } }));
    const answers: number[] = [];

    /**
     * Sends requests `from`..`to - 1` from CONCURRENCY workers through two nginx in front of the app, one that keeps
     * FastCGI connections (keepalive 8) and one that connects per request, then stops both: the connections nginx
     * kept are closed, so the app's fd count afterwards does not depend on how many nginx happened to keep.
     */
    const run = async (from: number, to: number): Promise<number> => {
      const kept = track(await startNginx({ upstream: app.address, keepConn: true, keepalive: 8, errorLogLevel: 'warn' }));
      const fresh = track(await startNginx({ upstream: app.address, errorLogLevel: 'warn' }));
      const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
      let next = from;
      const worker = async () => {
        while (next < to) {
          const i = next++;
          const server: NginxServer = i % 2 === 0 ? kept : fresh;
          // Every third request on a new HTTP connection, the others on the agent's kept ones; every fifth a POST
          // whose body the app never reads (drained when the request finishes).
          const response = await httpRequest(`${server.url}/soak/${i}`, {
            agent: i % 3 === 0 ? undefined : agent,
            method: i % 5 === 0 ? 'POST' : 'GET',
            body: i % 5 === 0 ? 'x'.repeat(i % 3000) : undefined,
          });
          if (response.status !== 200) throw new Error(`request ${i}: status ${response.status}: ${response.text}`);
          answers.push(Number(response.text));
        }
      };
      const started = process.hrtime.bigint();
      try {
        await Promise.all(Array.from({ length: CONCURRENCY }, worker));
        return Number(process.hrtime.bigint() - started) / 1e9;
      } finally {
        agent.destroy();
        await Promise.all([kept.close(), fresh.close()]);
      }
    };

    await run(0, WARM_UP);
    const fdsBefore = await settledFdCount(app.pid);
    const rssBefore = rssBytes(app.pid);

    const seconds = await run(WARM_UP, WARM_UP + MEASURED);

    const fdsAfter = await settledFdCount(app.pid);
    const rssAfter = rssBytes(app.pid);

    console.log(
      `soak: ${MEASURED} requests in ${seconds.toFixed(2)} s (${Math.round(MEASURED / seconds)} req/s through nginx, ` +
        `concurrency ${CONCURRENCY}); app fds ${fdsBefore} -> ${fdsAfter}; ` +
        `RSS ${(rssBefore / MiB).toFixed(1)} MiB -> ${(rssAfter / MiB).toFixed(1)} MiB ` +
        `(${((rssAfter - rssBefore) / MiB).toFixed(1)} MiB)`,
    );

    // The sync app serves one request at a time, so its counts are exactly 1..N, each once.
    expect(answers.length).toBe(WARM_UP + MEASURED);
    expect([...answers].sort((a, b) => a - b)).toEqual(Array.from({ length: WARM_UP + MEASURED }, (_, i) => i + 1));
    expect(Math.abs(fdsAfter - fdsBefore)).toBeLessThanOrEqual(2);
    expect(rssAfter - rssBefore).toBeLessThan(20 * MiB);
    expect(app.process.exitStatus()).toBeUndefined();
  }, 90000);
});
