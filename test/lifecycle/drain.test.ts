// Graceful shutdown loses nothing: connections queued in the listen backlog when SIGTERM arrives are served,
// for the accept loop and the concurrent server, on unix sockets and TCP, one by one and under wrk load.
import fs from 'fs';
import path from 'path';
import { appCommand, appEnv, fixture, REPO_ROOT, startApp, waitForOutput, type AppProcess } from '../helpers/app-process';
import { backlogLength, waitForBacklog } from '../helpers/backlog';
import { describeWithBinaries } from '../helpers/binaries';
import { closeAfterEach } from '../helpers/cleanup';
import { httpRequest, type HttpResponse } from '../helpers/http';
import { startNginx, type NginxServer } from '../helpers/nginx';
import { freePort } from '../helpers/ports';
import { startProcess, waitForListeningPort, waitForSocketFile, type ProcessHandle, type SocketTarget } from '../helpers/process';
import { tempDir } from '../helpers/tmp';
import net from 'net';
import { RecordDecoder } from '../../lib/client/record-decoder';
import { RecordType, type FastCGIRecord } from '../../lib/client/protocol';
import { fcgiRequestBytes, waitForEvent } from '../server/harness';

type Track = ReturnType<typeof closeAfterEach>;
type Transport = 'unix' | 'tcp';

/** A fixture app (accept loop or concurrent server) listening on a unix socket or TCP. */
interface App {
  proc: ProcessHandle;
  target: SocketTarget;
  socketPath?: string;
  /** Answer of the quick route. */
  quickText: (n: number) => string | RegExp;
  quick: string;
  /** A route that keeps the app (concurrency 1) busy for about a second, and the moment it has started. */
  busy: string;
  busyStarted: () => Promise<unknown>;
}

/** The accept loop (test/fixtures/sync-app.ts): /slow blocks 1 s, anything else answers "ok N". */
async function startSyncApp(track: Track, transport: Transport): Promise<App> {
  const dir = track(tempDir('fcgi-drain-')).path;
  const socketPath = path.join(dir, 'app.sock');
  const port = transport === 'tcp' ? await freePort() : 0;
  const target: SocketTarget = transport === 'unix' ? { path: socketPath } : { host: '127.0.0.1', port };
  const [node, ...args] = appCommand(fixture('sync-app.ts'));
  const proc = track(await startProcess(node, args, { cwd: REPO_ROOT, env: appEnv({ APP_OPTIONS: JSON.stringify(target) }) }));
  if (transport === 'unix') await waitForSocketFile(socketPath, 15000, { process: proc });
  else await waitForListeningPort(proc, port, 15000);
  return {
    proc,
    target,
    socketPath: transport === 'unix' ? socketPath : undefined,
    quick: '/quick',
    quickText: () => /^ok \d+$/,
    busy: '/slow',
    busyStarted: () => waitForOutput(proc, 'slow start'),
  };
}

/** The concurrent server (test/fixtures/server-app.ts): /sleep?ms=1000&log=1 is busy, /instant answers "ok". */
async function startServerApp(track: Track, transport: Transport, concurrency: string): Promise<App> {
  const dir = track(tempDir('fcgi-drain-')).path;
  const socketPath = path.join(dir, 'app.sock');
  const app: AppProcess = track(
    await startApp(fixture('server-app.ts'), {
      listen: transport === 'unix' ? { path: socketPath } : { tcp: true },
      env: { SERVER_CONCURRENCY: concurrency },
    }),
  );
  return {
    proc: app.process,
    target: app.address,
    socketPath: transport === 'unix' ? socketPath : undefined,
    quick: '/instant',
    quickText: () => 'ok',
    busy: '/sleep?ms=1000&log=1&id=busy',
    busyStarted: () => waitForEvent(app.process, (e) => e.event === 'start' && e.id === 'busy'),
  };
}

/** Lines of nginx's error log saying an upstream connection was reset or closed under a request. */
function resetLines(nginx: NginxServer): string[] {
  return nginx
    .errorLog()
    .split('\n')
    .filter((l) => /upstream/.test(l) && /\(104: Connection reset by peer\)|upstream prematurely closed|\(32: Broken pipe\)/.test(l));
}

/** Lines of nginx's error log saying it could not connect (the socket was closed or gone: never reached it). */
function refusedLines(nginx: NginxServer): string[] {
  return nginx
    .errorLog()
    .split('\n')
    .filter((l) => /connect\(\) (to \S+ )?failed/.test(l));
}

const cases: [string, Transport, (track: Track, t: Transport) => Promise<App>][] = [
  ['accept loop', 'unix', startSyncApp],
  ['accept loop', 'tcp', startSyncApp],
  ['concurrent server (concurrency 1)', 'unix', (track, t) => startServerApp(track, t, '1')],
  ['concurrent server (concurrency 1)', 'tcp', (track, t) => startServerApp(track, t, '1')],
];

describeWithBinaries(['nginx', 'ss'])('SIGTERM serves the connections queued in the listen backlog', () => {
  const track = closeAfterEach();

  test.each(cases)(
    '%s on %s: a busy request and 3 queued behind it are all answered 200, then the process exits 0 and nothing was reset',
    async (_what, transport, start) => {
      const app = await start(track, transport);
      const nginx = track(await startNginx({ upstream: app.target }));
      const busy = httpRequest(`${nginx.url}${app.busy}`);
      await app.busyStarted();
      const queued = Array.from({ length: 3 }, () => httpRequest(`${nginx.url}${app.quick}`));
      await waitForBacklog(app.target, 3); // nginx connected; nobody accepted them yet

      app.proc.kill('SIGTERM');
      const answers: HttpResponse[] = [await busy, ...(await Promise.all(queued))];
      expect(await app.proc.exited).toEqual({ code: 0, signal: null });

      expect(answers.map((r) => r.status)).toEqual([200, 200, 200, 200]);
      for (const r of answers.slice(1)) expect(r.text).toMatch(app.quickText(0));
      expect(resetLines(nginx)).toEqual([]);
      if (app.socketPath !== undefined) expect(fs.existsSync(app.socketPath)).toBe(false);
      // After the shutdown nothing listens: a new request is refused (nginx could not connect), not reset.
      expect((await httpRequest(`${nginx.url}${app.quick}`)).status).toBe(502);
      expect(refusedLines(nginx)).toHaveLength(1);
    },
  );
});

describeWithBinaries(['nginx', 'ss'])('lastCall() in the accept loop serves the connections queued in the listen backlog', () => {
  const track = closeAfterEach();

  test.each(['unix', 'tcp'] as const)(
    'on %s: the request that called lastCall() and 3 queued behind it are answered 200, then the loop ends (exit 0)',
    async (transport) => {
      const app = await startSyncApp(track, transport);
      const nginx = track(await startNginx({ upstream: app.target }));
      const last = httpRequest(`${nginx.url}/slow-last-call`);
      await app.busyStarted();
      const queued = Array.from({ length: 3 }, () => httpRequest(`${nginx.url}${app.quick}`));
      await waitForBacklog(app.target, 3);
      const answers: HttpResponse[] = [await last, ...(await Promise.all(queued))];
      expect(answers.map((r) => [r.status, r.text])).toEqual([
        [200, 'last call'],
        [200, 'ok 1'],
        [200, 'ok 2'],
        [200, 'ok 3'],
      ]);
      expect(await app.proc.exited).toEqual({ code: 0, signal: null });
      expect(resetLines(nginx)).toEqual([]);
      if (app.socketPath !== undefined) expect(fs.existsSync(app.socketPath)).toBe(false);
    },
  );
});

describeWithBinaries(['ss'])('a connection accepted before SIGTERM whose request arrives after it', () => {
  const track = closeAfterEach();

  test.each([
    ['accept loop', (t: Track) => startSyncApp(t, 'unix')],
    ['concurrent server', (t: Track) => startServerApp(t, 'unix', '4')],
  ] as const)('%s: is served, not closed, then the process exits 0', async (_what, start) => {
    const app = await start(track);
    const socketPath = app.socketPath as string;
    const socket = net.connect(socketPath);
    track({ close: () => socket.destroy() });
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    const deadline = Date.now() + 5000;
    // accepted: nothing waits in the backlog any more (the app watches it for its first bytes)
    while (backlogLength(app.target) !== 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(backlogLength(app.target)).toBe(0);

    app.proc.kill('SIGTERM');
    while (fs.existsSync(socketPath) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(fs.existsSync(socketPath)).toBe(false); // the shutdown began: no new connection can reach it

    const decoder = new RecordDecoder();
    const records: FastCGIRecord[] = [];
    socket.on('data', (chunk: Buffer) => records.push(...decoder.push(chunk)));
    socket.on('error', () => undefined); // a reset shows as a missing END_REQUEST below
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    socket.write(fcgiRequestBytes(app.quick));
    await closed;
    const stdout = Buffer.concat(records.filter((r) => r.type === RecordType.STDOUT).map((r) => r.content)).toString();
    expect(stdout).toMatch(/\r\n\r\n(ok|ok \d+)$/);
    expect(records.some((r) => r.type === RecordType.END_REQUEST)).toBe(true);
    expect(await app.proc.exited).toEqual({ code: 0, signal: null });
  });
});

interface WrkResult {
  requests: number;
  non2xx: number;
  socketErrors: number;
  output: string;
}

/** wrk for `seconds` against `url`; resolves with its totals. */
async function runWrk(url: string, connections: number, seconds: number): Promise<{ proc: ProcessHandle; result: Promise<WrkResult> }> {
  const proc = await startProcess('wrk', ['-t1', `-c${connections}`, `-d${seconds}s`, '--timeout', '10s', url]);
  const result = proc.exited.then(() => {
    const output = proc.stdout();
    const num = (re: RegExp) => Number(re.exec(output)?.[1] ?? 0);
    const errors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(output);
    return {
      requests: num(/(\d+) requests in/),
      non2xx: num(/Non-2xx or 3xx responses: (\d+)/),
      socketErrors: errors ? errors.slice(1).reduce((a, b) => a + Number(b), 0) : 0,
      output,
    };
  });
  return { proc, result };
}

/** Resolves once nginx's access log has at least `n` lines (requests answered). */
async function waitForAccessLines(nginx: NginxServer, n: number, timeoutMs = 10000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (nginx.accessLog().split('\n').filter(Boolean).length < n) {
    if (Date.now() > deadline) throw new Error(`fewer than ${n} requests answered within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

const loadCases: [string, (track: Track) => Promise<App>][] = [
  ['accept loop', (track) => startSyncApp(track, 'unix')],
  ['concurrent server, concurrency 1', (track) => startServerApp(track, 'unix', '1')],
  ['concurrent server, concurrency 4', (track) => startServerApp(track, 'unix', '4')],
  ['concurrent server, default concurrency', (track) => startServerApp(track, 'unix', 'default')],
];

describeWithBinaries(['nginx', 'wrk'])('SIGTERM under wrk load through nginx (16 connections)', () => {
  const track = closeAfterEach();

  test.each(loadCases)(
    '%s: every request that reached the socket is answered 200; the only 502s are connects refused after it closed',
    async (_what, start) => {
      const app = await start(track);
      const nginx = track(await startNginx({ upstream: app.target }));
      const { result } = await runWrk(`${nginx.url}${app.quick}`, 16, 2);
      await waitForAccessLines(nginx, 200); // under load: connections queue in the backlog
      app.proc.kill('SIGTERM');
      expect(await app.proc.exited).toEqual({ code: 0, signal: null });
      const wrk = await result;

      const access = nginx.accessLog().split('\n').filter(Boolean);
      const status502 = access.filter((l) => /" 502 /.test(l)).length;
      const other = access.filter((l) => !/" (200|502) /.test(l));
      console.log(
        `${_what}: ${wrk.requests} requests, ${access.length - status502} answered 200 by the app, ` +
          `${status502} 502 (refused after close: ${refusedLines(nginx).length}), resets ${resetLines(nginx).length}`,
      );
      expect(resetLines(nginx)).toEqual([]);
      expect(other).toEqual([]);
      expect(status502).toBe(refusedLines(nginx).length);
      expect(wrk.socketErrors).toBe(0);
    },
    30000,
  );
});
