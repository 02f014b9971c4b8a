// Signals during shutdown: a second SIGTERM changes nothing, a JS thread stuck in synchronous code cannot keep the
// server alive past closeTimeout (the native watchdog), SIGINT/SIGHUP/SIGUSR2 keep Node's default action.
import fs from 'fs';
import path from 'path';
import { appCommand, appEnv, fixture, REPO_ROOT, startApp, waitForOutput } from '../helpers/app-process';
import { describeWithBinaries } from '../helpers/binaries';
import { closeAfterEach } from '../helpers/cleanup';
import { httpRequest } from '../helpers/http';
import { startNginx } from '../helpers/nginx';
import { startProcess, unixSocketListening, waitForSocketFile } from '../helpers/process';
import { tempDir } from '../helpers/tmp';
import { events, runFixture, waitForEvent } from '../server/harness';

type Track = ReturnType<typeof closeAfterEach>;

/** Resolves once `cond()` holds (checked every 20 ms); rejects after `timeoutMs`. */
async function until(cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function startServer(track: Track, env: NodeJS.ProcessEnv) {
  const dir = track(tempDir('fcgi-signals-')).path;
  const socketPath = path.join(dir, 'app.sock');
  const app = track(
    await startApp(fixture('server-app.ts'), { listen: { path: socketPath }, env: { SERVER_NO_SIGTERM_LOG: '1', ...env } }),
  );
  return { app, proc: app.process, socketPath };
}

describeWithBinaries(['nginx'])('concurrent server: signals during shutdown', () => {
  const track = closeAfterEach();

  test('a second SIGTERM while 3 requests drain changes nothing: all 3 are answered 200 and the process exits 0', async () => {
    const { app, proc, socketPath } = await startServer(track, { SERVER_CONCURRENCY: '4' });
    const nginx = track(await startNginx({ upstream: app.address }));
    const inFlight = Array.from({ length: 3 }, (_, i) => httpRequest(`${nginx.url}/sleep?ms=1500&log=1&id=${i}`));
    for (let i = 0; i < 3; i++) await waitForEvent(proc, (e) => e.event === 'start' && e.id === String(i));
    proc.kill('SIGTERM');
    await until(() => !fs.existsSync(socketPath)); // the first SIGTERM started the shutdown
    proc.kill('SIGTERM'); // as a supervisor signalling the whole process group would
    const answers = await Promise.all(inFlight);
    expect(answers.map((r) => [r.status, r.text])).toEqual(Array(3).fill([200, 'slept 1500']));
    expect(await proc.exited).toEqual({ code: 0, signal: null });
    expect(events(proc).filter((e) => e.event === 'done')).toHaveLength(3);
  });

  test('SIGINT during the shutdown is the force path: the process ends by SIGINT at once, requests cut', async () => {
    const { app, proc } = await startServer(track, { SERVER_CONCURRENCY: '4' });
    const nginx = track(await startNginx({ upstream: app.address }));
    const pending = httpRequest(`${nginx.url}/sleep?ms=5000&log=1&id=long`);
    await waitForEvent(proc, (e) => e.event === 'start' && e.id === 'long');
    proc.kill('SIGTERM');
    proc.kill('SIGINT');
    const t0 = Date.now();
    expect(await proc.exited).toEqual({ code: null, signal: 'SIGINT' });
    expect(Date.now() - t0).toBeLessThan(2000);
    expect((await pending).status).toBe(502);
  });

  test('a handler blocking the JS thread: the watchdog ends the process by SIGTERM within closeTimeout (1 s) + 1 s, socket file removed', async () => {
    const { app, proc, socketPath } = await startServer(track, { SERVER_CONCURRENCY: '4', SERVER_CLOSE_TIMEOUT: '1000' });
    const nginx = track(await startNginx({ upstream: app.address }));
    const pending = httpRequest(`${nginx.url}/block?ms=30000`, { timeoutMs: 40000 }).catch((err: Error) => err);
    await waitForOutput(proc, 'block-start'); // the JS thread is now stuck for 30 s: no timer, no listener runs
    const t0 = Date.now();
    proc.kill('SIGTERM');
    proc.kill('SIGTERM'); // twice, as in the issue: neither may keep it alive
    const status = await proc.exited;
    const ms = Date.now() - t0;
    console.log(`blocked JS thread, closeTimeout 1000 ms: the process was gone ${ms} ms after SIGTERM`);
    expect(status).toEqual({ code: null, signal: 'SIGTERM' });
    expect(ms).toBeGreaterThanOrEqual(900);
    expect(ms).toBeLessThan(2000);
    expect(fs.existsSync(socketPath)).toBe(false);
    await pending;
  });
});

describe('a server in a worker thread', () => {
  const track = closeAfterEach();

  test('SIGTERM to the process keeps its default action at once: no watchdog holds it (signals reach only the main thread)', async () => {
    const dir = track(tempDir('fcgi-signals-'));
    const proc = track(
      await runFixture('server-lifecycle.ts', { FCGI_SOCKET_PATH: path.join(dir.path, 'app.sock'), SERVER_CASE: 'worker-terminate-never' }),
    );
    await waitForEvent(proc, (e) => e.event === 'worker-listening', { timeoutMs: 15000 });
    const t0 = Date.now();
    proc.kill('SIGTERM');
    expect(await proc.exited).toEqual({ code: null, signal: 'SIGTERM' });
    expect(Date.now() - t0).toBeLessThan(3000); // the watchdog would hold it for closeTimeout (10 s) + 500 ms
  });
});

describeWithBinaries(['nginx'])('SIGHUP made graceful by the app (README)', () => {
  const track = closeAfterEach();

  test("process.on('SIGHUP', () => server.close()): a request in flight is answered 200, then the process exits 0", async () => {
    const { app, proc, socketPath } = await startServer(track, { SERVER_GRACEFUL_SIGHUP: '1' });
    const nginx = track(await startNginx({ upstream: app.address }));
    const pending = httpRequest(`${nginx.url}/sleep?ms=1000&log=1&id=hup`);
    await waitForEvent(proc, (e) => e.event === 'start' && e.id === 'hup');
    proc.kill('SIGHUP');
    const response = await pending;
    expect([response.status, response.text]).toEqual([200, 'slept 1000']);
    expect(await proc.exited).toEqual({ code: 0, signal: null });
    expect(fs.existsSync(socketPath)).toBe(false);
  });
});

describe.each(['SIGHUP', 'SIGUSR2'] as const)("%s keeps Node's default action (documented)", (signal) => {
  const track = closeAfterEach();

  test(`the concurrent server: ${signal} ends the process by the signal; the socket file is left and the next start replaces it`, async () => {
    const { proc, socketPath } = await startServer(track, {});
    proc.kill(signal);
    expect(await proc.exited).toEqual({ code: null, signal });
    expect(fs.existsSync(socketPath)).toBe(true);
    const [node, ...args] = appCommand(fixture('server-app.ts'));
    const next = track(await startProcess(node, args, { cwd: REPO_ROOT, env: appEnv({ FCGI_SOCKET_PATH: socketPath }) }));
    await waitForEvent(next, (e) => e.event === 'listening', { timeoutMs: 15000 });
    expect(unixSocketListening(socketPath)).toBe(true);
  });

  test(`the accept loop: ${signal} while waiting in accept() ends the process by the signal`, async () => {
    const dir = track(tempDir('fcgi-signals-')).path;
    const sock = path.join(dir, 'app.sock');
    const [node, ...args] = appCommand(fixture('sync-app.ts'));
    const proc = track(await startProcess(node, args, { cwd: REPO_ROOT, env: appEnv({ APP_OPTIONS: JSON.stringify({ path: sock }) }) }));
    await waitForSocketFile(sock, 15000, { process: proc });
    await waitForOutput(proc, 'accepting');
    proc.kill(signal);
    expect(await proc.exited).toEqual({ code: null, signal });
  });
});
