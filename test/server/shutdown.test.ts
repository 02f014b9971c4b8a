// Shutdown of the concurrent server: SIGTERM drains requests in flight, close() is prompt, worker threads and unref exit.
import fs from 'fs';
import path from 'path';
import { describeWithBinaries } from '../helpers/binaries';
import { closeAfterEach } from '../helpers/cleanup';
import { tempDir } from '../helpers/tmp';
import { events, request, runFixture, startStack, waitForEvent, type AppEvent, type Stack } from './harness';

const EXITED_OK = { code: 0, signal: null };

/** Resolves with the exit status, or rejects when the process is still running after `ms`. */
function exitWithin(proc: { exited: Promise<unknown> }, ms: number): Promise<unknown> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`the process did not exit within ${ms} ms`)), ms);
  });
  return Promise.race([proc.exited, timeout]).finally(() => clearTimeout(timer));
}

describeWithBinaries(['nginx'])('concurrent server shutdown on SIGTERM, through nginx', () => {
  const track = closeAfterEach();

  test.each([
    ['new upstream connections', false],
    ['kept upstream connections (fastcgi_keep_conn on)', true],
  ])(
    'SIGTERM with 5 requests in flight on %s: they complete, new ones are refused, then the process exits 0 and the socket file is gone',
    async (_how, keepConn) => {
      const stack = track(await startStack('server-app.ts', { env: { SERVER_CONCURRENCY: '8' }, nginx: { keepConn } }));
      const app = stack.app.process;
      // With keep_conn on, this leaves idle kept connections that close() must close too.
      await Promise.all(Array.from({ length: 8 }, () => request(`${stack.url}/sleep?ms=20`)));
      const inFlight = Array.from({ length: 5 }, (_, i) => request(`${stack.url}/sleep?ms=1500&log=1&id=${i}`));
      for (let i = 0; i < 5; i++) await waitForEvent(app, (e) => e.event === 'start' && e.id === String(i));

      app.kill('SIGTERM');
      await expect(waitForEvent(app, (e) => e.event === 'sigterm')).resolves.toMatchObject({ inFlight: 5 });
      const refused = await request(`${stack.url}/instant`);
      const responses = await Promise.all(inFlight);

      expect(responses.map((r) => [r.status, r.text])).toEqual(Array(5).fill([200, 'slept 1500']));
      // Stopped accepting at once: the socket file is gone, so nginx cannot connect (502).
      expect(refused.status).toBe(502);
      expect(await exitWithin(app, 5000)).toEqual(EXITED_OK);
      expect(events(app).filter((e) => e.event === 'done')).toHaveLength(5);
      expect(events(app).at(-1)).toEqual({ event: 'close' });
      expect(fs.existsSync(stack.socketPath)).toBe(false);
    },
  );

  test('SIGTERM with a request that outlasts closeTimeout (500 ms): its signal aborts at the timeout and the process exits 0', async () => {
    const stack = track(await startStack('server-app.ts', { env: { SERVER_CONCURRENCY: '4', SERVER_CLOSE_TIMEOUT: '500' } }));
    const app = stack.app.process;
    const stuck = request(`${stack.url}/wait-abort?ms=30000`).catch((err: Error) => err);
    await waitForEvent(app, (e) => e.event === 'wait-start');

    const t0 = performance.now();
    app.kill('SIGTERM');
    const aborted = await waitForEvent(app, (e) => e.event === 'aborted' || e.event === 'not-aborted', { timeoutMs: 5000 });
    expect(aborted).toMatchObject({ event: 'aborted', code: 'FCGI_ABORTED' });
    expect(await exitWithin(app, 5000)).toEqual(EXITED_OK);
    const exitMs = performance.now() - t0;
    console.log(`SIGTERM with a stuck request, closeTimeout 500 ms: exited after ${exitMs.toFixed(0)} ms`);
    expect(exitMs).toBeGreaterThanOrEqual(450);
    expect(exitMs).toBeLessThan(3000);
    // The client is answered (with whatever nginx makes of the cut connection) instead of hanging.
    await stuck;
    expect(fs.existsSync(stack.socketPath)).toBe(false);
  });
});

describeWithBinaries(['nginx'])('concurrent server: exits with requests in flight, through nginx', () => {
  const track = closeAfterEach();

  /** 10 requests waiting in handlers (all 10 announced by an event), then `trigger` as the 11th: the busy ones' statuses. */
  async function busyThenTrigger(stack: Stack, route: string, announced: (e: AppEvent) => boolean, trigger: string) {
    const proc = stack.app.process;
    const busy = Array.from({ length: 10 }, () =>
      request(`${stack.url}${route}`).then(
        (r) => r.status,
        () => 'cut',
      ),
    );
    await waitForEvent(proc, () => events(proc).filter(announced).length >= 10);
    await request(`${stack.url}${trigger}`).catch(() => undefined); // its connection is cut by the exit
    return { busy: await Promise.all(busy) };
  }

  test('process.exit(3) in a handler while 10 requests are in flight exits with code 3 and no crash; nginx answers them 502', async () => {
    const stack = track(await startStack('server-app.ts', { env: { SERVER_CONCURRENCY: '16' } }));
    const app = stack.app.process;
    const { busy } = await busyThenTrigger(stack, '/sleep?ms=5000&log=1', (e) => e.event === 'start', '/exit?code=3');
    // stderr in the comparison: a crash's message shows in the diff.
    expect({ status: await exitWithin(app, 5000), stderr: app.stderr() }).toEqual({ status: { code: 3, signal: null }, stderr: '' });
    expect(busy).toEqual(Array(10).fill(502));
  });

  test('process.exit(0) in a worker thread whose server has 10 requests in flight: the worker exits 0, the process too, no crash', async () => {
    const stack = track(await startStack('server-lifecycle.ts', { env: { SERVER_CASE: 'worker-serve' } }));
    const app = stack.app.process;
    const { busy } = await busyThenTrigger(stack, '/sleep?ms=5000', (e) => e.event === 'worker-request' && e.uri === '/sleep', '/exit');
    expect({ status: await exitWithin(app, 5000), stderr: app.stderr() }).toEqual({ status: EXITED_OK, stderr: '' });
    expect(events(app).at(-1)).toEqual({ event: 'worker-exit', code: 0 });
    expect(busy).toEqual(Array(10).fill(502));
    expect(fs.existsSync(stack.socketPath)).toBe(false);
  });

  test('terminating a worker thread whose server has 11 requests in flight: the worker exits 1 (terminated), the process 0, no crash', async () => {
    const stack = track(await startStack('server-lifecycle.ts', { env: { SERVER_CASE: 'worker-serve' } }));
    const app = stack.app.process;
    const { busy } = await busyThenTrigger(
      stack,
      '/sleep?ms=5000',
      (e) => e.event === 'worker-request' && e.uri === '/sleep',
      '/terminate',
    );
    expect({ status: await exitWithin(app, 5000), stderr: app.stderr() }).toEqual({ status: EXITED_OK, stderr: '' });
    expect(events(app).at(-1)).toEqual({ event: 'worker-exit', code: 1 });
    expect(busy).toEqual(Array(10).fill(502));
    expect(fs.existsSync(stack.socketPath)).toBe(false);
  });
});

describe('concurrent server lifecycle (each case in its own process)', () => {
  const track = closeAfterEach();

  async function run(which: string) {
    const dir = track(tempDir('fcgi-srv-'));
    const socketPath = path.join(dir.path, 'app.sock');
    const proc = track(await runFixture('server-lifecycle.ts', { FCGI_SOCKET_PATH: socketPath, SERVER_CASE: which }));
    return { proc, socketPath };
  }

  test('close() on an idle server with 16 threads resolves in under 500 ms, the socket file is removed and the process exits 0', async () => {
    const { proc, socketPath } = await run('close-idle');
    const closed = await waitForEvent(proc, (e) => e.event === 'closed');
    console.log(`idle close(): ${(closed.closeMs as number).toFixed(1)} ms`);
    expect(closed.closeMs).toBeLessThan(500);
    expect(await exitWithin(proc, 5000)).toEqual(EXITED_OK);
    expect(fs.existsSync(socketPath)).toBe(false);
  });

  test('server.unref() lets the process exit while the server is idle and listening (exit 0, socket file removed)', async () => {
    const { proc, socketPath } = await run('unref');
    await waitForEvent(proc, (e) => e.event === 'listening');
    expect(await exitWithin(proc, 5000)).toEqual(EXITED_OK);
    expect(fs.existsSync(socketPath)).toBe(false);
  });

  test('a worker thread that creates a server, listens, closes it and returns exits with code 0, and so does the process', async () => {
    const { proc, socketPath } = await run('worker-close');
    await waitForEvent(proc, (e) => e.event === 'worker-closed');
    await expect(waitForEvent(proc, (e) => e.event === 'worker-exit')).resolves.toMatchObject({ code: 0 });
    expect(await exitWithin(proc, 5000)).toEqual(EXITED_OK);
    expect(events(proc).filter((e) => e.event === 'worker-error')).toEqual([]);
    expect(fs.existsSync(socketPath)).toBe(false);
  });

  test('a worker thread that calls process.exit(0) while its server listens exits with code 0, no crash, socket file removed', async () => {
    const { proc, socketPath } = await run('worker-exit');
    await waitForEvent(proc, (e) => e.event === 'worker-listening');
    await expect(waitForEvent(proc, (e) => e.event === 'worker-exit')).resolves.toMatchObject({ code: 0 });
    expect({ status: await exitWithin(proc, 5000), stderr: proc.stderr() }).toEqual({ status: EXITED_OK, stderr: '' });
    expect(fs.existsSync(socketPath)).toBe(false);
  });

  test('a worker thread terminated by the main thread while its server listens tears down cleanly (worker exit 1, process exit 0)', async () => {
    const { proc, socketPath } = await run('worker-terminate');
    await waitForEvent(proc, (e) => e.event === 'worker-listening');
    // terminate() always reports exit code 1 for the worker.
    await expect(waitForEvent(proc, (e) => e.event === 'worker-exit')).resolves.toMatchObject({ code: 1 });
    expect({ status: await exitWithin(proc, 5000), stderr: proc.stderr() }).toEqual({ status: EXITED_OK, stderr: '' });
    expect(fs.existsSync(socketPath)).toBe(false);
  });
});
