// Rolling restart (issue 12 item 6, issue 16 item 1): two instances of the concurrent server on TCP ports behind
// one web server's balancer, under wrk load, restarted one at a time with SIGTERM: zero failed requests, and the
// requests shift to the other instance while one drains and restarts. nginx `upstream` and Apache
// mod_proxy_balancer over fcgi://, with the settings README's "Rolling restarts" section recommends.
import { appCommand, appEnv, fixture, REPO_ROOT } from '../helpers/app-process';
import { startApache } from '../helpers/apache';
import { describeWithBinaries } from '../helpers/binaries';
import { closeAfterEach } from '../helpers/cleanup';
import { startNginx } from '../helpers/nginx';
import { freePort } from '../helpers/ports';
import { startProcess, waitForListeningPort, type ProcessHandle } from '../helpers/process';
import type { WebServer } from '../helpers/web-server';

type Track = ReturnType<typeof closeAfterEach>;

async function startInstance(track: Track, port: number): Promise<ProcessHandle> {
  const [node, ...args] = appCommand(fixture('server-app.ts'));
  const proc = track(
    await startProcess(node, args, {
      cwd: REPO_ROOT,
      env: appEnv({ FCGI_HOST: '127.0.0.1', FCGI_PORT: String(port), SERVER_NAME: `port ${port}` }),
    }),
  );
  await waitForListeningPort(proc, port, 20000);
  return proc;
}

interface Front {
  web: WebServer & { accessLog(): string };
  /** The instance (its port) that answered each access log line, and the status. */
  parse: (line: string) => { status: number; port: number | undefined };
}

const fronts: [string, (track: Track, ports: number[]) => Promise<Front>][] = [
  [
    'nginx upstream (max_fails=0, fastcgi_next_upstream error timeout)',
    async (track, ports) => {
      const web = track(
        await startNginx({
          upstream: { host: '127.0.0.1', port: ports[0] },
          moreUpstreams: [{ host: '127.0.0.1', port: ports[1] }],
          upstreamServerParams: 'max_fails=0',
          extraLocationConf: 'fastcgi_next_upstream error timeout;',
          logUpstream: true,
        }),
      );
      // "200 127.0.0.1:PORT", or "200 127.0.0.1:A, 127.0.0.1:B" when nginx went on to the next one: the last answered.
      return {
        web,
        parse: (line) => ({ status: Number(line.split(' ')[0]), port: Number(/:(\d+)\s*$/.exec(line)?.[1]) || undefined }),
      };
    },
  ],
  [
    'Apache mod_proxy_balancer over fcgi:// (retry=1, maxattempts=1)',
    async (track, ports) => {
      const web = track(
        await startApache({
          mode: 'proxy_fcgi',
          upstream: { host: '127.0.0.1', port: ports[0] },
          moreUpstreams: [{ host: '127.0.0.1', port: ports[1] }],
          // retry=1: a member that refused stays out for 1 s, so the failover attempt goes to the other one
          // (retry=0 lets the balancer pick the refusing member again: 503).
          balancerMemberParams: 'retry=1',
          balancerParams: 'maxattempts=1',
          logUpstream: true,
        }),
      );
      // "200 fcgi://127.0.0.1:PORT/"
      return {
        web,
        parse: (line) => ({ status: Number(line.split(' ')[0]), port: Number(/:(\d+)\/?\s*$/.exec(line)?.[1]) || undefined }),
      };
    },
  ],
];

function accessLines(web: { accessLog(): string }): string[] {
  return web.accessLog().split('\n').filter(Boolean);
}

async function waitForLines(web: { accessLog(): string }, n: number, timeoutMs = 20000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (accessLines(web).length < n) {
    if (Date.now() > deadline) throw new Error(`fewer than ${n} requests answered within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

describeWithBinaries(['nginx', 'apache2', 'wrk'])('rolling restart of two concurrent-server instances under wrk load', () => {
  const track = closeAfterEach();

  test.each(fronts)(
    '%s: each instance restarted in turn with SIGTERM, zero failed requests, requests shift while one is down',
    async (what, startFront) => {
      const ports = [await freePort(), await freePort()];
      const apps = [await startInstance(track, ports[0]), await startInstance(track, ports[1])];
      const front = await startFront(track, ports);
      const wrk = track(await startProcess('wrk', ['-t1', '-c8', '-d60s', '--timeout', '10s', `${front.web.url}/instant`]));
      await waitForLines(front.web, 200);

      const windows: { restarted: number; from: number; to: number }[] = [];
      for (const i of [0, 1]) {
        const from = accessLines(front.web).length;
        apps[i].kill('SIGTERM');
        expect(await apps[i].exited).toEqual({ code: 0, signal: null });
        apps[i] = await startInstance(track, ports[i]);
        const to = accessLines(front.web).length;
        windows.push({ restarted: i, from, to });
        // As a deploy script would: the next instance goes down only once this one takes requests again (the
        // balancer retries a member that refused after a while: nginx at once, Apache after retry=1 s).
        const back = Date.now() + 20000;
        while (
          !accessLines(front.web)
            .slice(to)
            .some((l) => front.parse(l).port === ports[i])
        ) {
          if (Date.now() > back) throw new Error(`the restarted instance on port ${ports[i]} got no request within 20 s`);
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      }
      wrk.kill('SIGINT'); // wrk stops and prints its totals
      await wrk.exited;
      const out = wrk.stdout();

      const lines = accessLines(front.web).map(front.parse);
      const perPort = (from: number, to: number) => ports.map((p) => lines.slice(from, to).filter((l) => l.port === p).length);
      const summary = windows.map((w) => ({ restarted: `port ${ports[w.restarted]}`, answeredWhileDown: perPort(w.from, w.to) }));
      console.log(
        `${what}: ${lines.length} requests; per instance ${JSON.stringify(perPort(0, lines.length))}; ` +
          `while one was down: ${JSON.stringify(summary)}\n${out}` +
          `statuses: ${JSON.stringify(lines.reduce<Record<number, number>>((h, l) => ({ ...h, [l.status]: (h[l.status] ?? 0) + 1 }), {}))}\n` +
          front.web
            .errorLog()
            .split('\n')
            .filter((l) => /:error\]|\[error\]/.test(l))
            .slice(0, 8)
            .join('\n'),
      );

      expect(out).toMatch(/\d+ requests in/);
      expect(out).not.toMatch(/Non-2xx or 3xx responses/);
      expect(out).not.toMatch(/Socket errors/);
      // 499 is nginx's "client closed the connection": wrk closing its connections with requests in flight when
      // its duration ends. Any request wrk gave up on earlier is a timeout in its "Socket errors" (checked above).
      expect(lines.filter((l) => l.status !== 200 && l.status !== 499)).toEqual([]);
      for (const w of windows) {
        const other = 1 - w.restarted;
        // While one instance drained and restarted, the other answered (and many more than it).
        const counts = perPort(w.from, w.to);
        expect(counts[other]).toBeGreaterThan(counts[w.restarted]);
        // After its restart, the instance takes requests again.
        expect(perPort(w.to, lines.length)[w.restarted]).toBeGreaterThan(0);
      }
    },
    90000,
  );
});
