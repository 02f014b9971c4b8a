// The accept loop's operator view (test/fixtures/operator-app.ts in a child process): fcgi.stats(), the statusPath
// page, and the slow-request log written to stderr by a watcher thread while the synchronous handler still runs.
import path from 'path';
import type { Stats } from '../../lib';
import { FastCGIClient, fcgiRequest } from '../../lib/client';
import { fixture, startApp, type AppProcess } from '../helpers/app-process';
import { closeAfterEach } from '../helpers/cleanup';
import { makeTempDir } from '../helpers/tmp';

jest.setTimeout(60000);

const closeLater = closeAfterEach();
const APP = fixture('operator-app.ts');

const get = (sock: string, uri: string, body?: Buffer) => {
  const [p, q = ''] = uri.split('?');
  return fcgiRequest(
    { path: sock, timeout: 20000 },
    {
      params: {
        REQUEST_METHOD: body ? 'POST' : 'GET',
        REQUEST_URI: uri,
        SCRIPT_NAME: p,
        QUERY_STRING: q,
        ...(body ? { CONTENT_LENGTH: String(body.length) } : {}),
      },
      body,
    },
  );
};

async function start(env: NodeJS.ProcessEnv = {}): Promise<{ app: AppProcess; sock: string }> {
  const sock = path.join(makeTempDir(), 'app.sock');
  const app = closeLater(await startApp(APP, { listen: { path: sock }, env }));
  return { app, sock };
}

/** Resolves once the process's stderr contains `re` (polled on its data events). */
function waitForStderr(app: AppProcess, re: RegExp, timeoutMs = 10000): Promise<string> {
  return new Promise((resolve, reject) => {
    const stderr = app.process.child.stderr;
    const check = () => {
      if (re.test(app.process.stderr())) {
        stderr?.off('data', onData);
        clearTimeout(timer);
        resolve(app.process.stderr());
      }
    };
    const onData = () => setImmediate(check);
    const timer = setTimeout(() => {
      stderr?.off('data', onData);
      reject(new Error(`stderr never matched ${re}: ${app.process.stderr()}`));
    }, timeoutMs);
    stderr?.on('data', onData);
    check();
  });
}

describe('accept loop: fcgi.stats()', () => {
  test('requests, bytes and kept connections move the counters', async () => {
    const { sock } = await start();
    const first = JSON.parse((await get(sock, '/stats')).body.toString()) as Stats;
    expect(first).toMatchObject({
      accepted: 1,
      completed: 0,
      requestsInFlight: 1,
      connectionsBusy: 1,
      failed: 0,
      refusedByGate: 0,
      refusedByLimits: 0,
    });
    for (let i = 0; i < 4; i++) expect((await get(sock, '/big?n=5000')).body.length).toBe(5000);
    expect((await get(sock, '/read', Buffer.alloc(7000, 1))).body.toString()).toBe('7000');
    const after = JSON.parse((await get(sock, '/stats')).body.toString()) as Stats;
    expect(after.accepted).toBe(7);
    expect(after.completed).toBe(6);
    expect(after.bytesOut).toBeGreaterThanOrEqual(4 * 5000);
    expect(after.bytesIn).toBeGreaterThanOrEqual(7000);
    expect(after.uptime).toBeGreaterThan(0);

    // A kept connection between requests is idle (the stats are asked on another connection).
    const kept = await FastCGIClient.connect({ path: sock }, { keepConn: true });
    await kept.request({ params: { REQUEST_METHOD: 'GET', REQUEST_URI: '/' } }).response();
    const withIdle = JSON.parse((await get(sock, '/stats')).body.toString()) as Stats;
    expect(withIdle.connectionsIdle).toBe(1);
    expect(withIdle.connectionsOpen).toBe(2);
    await kept.close();
  });

  test('an aborted request is counted', async () => {
    const { sock } = await start();
    // The client aborts a slow request and goes away; writing its large answer then fails: aborted.
    const client = await FastCGIClient.connect({ path: sock });
    const slow = client.request({ params: { REQUEST_METHOD: 'GET', REQUEST_URI: '/slow', QUERY_STRING: 'ms=500&n=200000' } });
    slow.done.catch(() => undefined);
    slow.abort();
    await client.close();
    const stats = JSON.parse((await get(sock, '/stats')).body.toString()) as Stats;
    expect(stats.accepted).toBe(2);
    expect(stats.completed).toBe(1);
    expect(stats.aborted).toBe(1);
  });
});

describe('accept loop: statusPath', () => {
  test('answered by the loop in text and ?json; the application never sees it', async () => {
    const { sock } = await start({ STATUS_PATH: '/fcgi-status' });
    await get(sock, '/');
    const text = (await get(sock, '/fcgi-status')).body.toString();
    expect(text).toMatch(/^server: +libfcgi accept loop$/m);
    expect(text).toMatch(/^accepted requests: +2$/m);
    const json = JSON.parse((await get(sock, '/fcgi-status?json')).body.toString()) as Stats;
    expect(json.accepted).toBe(3);
    expect(json.completed).toBe(2);
    // The app's own /stats shows the status requests went through the loop, not the app's code.
    const app = JSON.parse((await get(sock, '/stats')).body.toString()) as Stats;
    expect(app.accepted).toBe(4);
  });
});

describe('accept loop: slowRequestThreshold', () => {
  test('a request blocking the loop past the threshold is logged to stderr once, while it still runs', async () => {
    const { app, sock } = await start({ SLOW_MS: '300' });
    const started = Date.now();
    const pending = get(sock, '/slow?ms=3000');
    const stderr = await waitForStderr(app, /slow request/);
    const loggedAfter = Date.now() - started;
    expect(loggedAfter).toBeLessThan(2500); // before the handler's end (3 s): the JS thread is blocked meanwhile
    expect((await pending).body.toString()).toBe('slow done');
    const lines = app.process
      .stderr()
      .split('\n')
      .filter((l) => l.includes('slow request'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^libfcgi: slow request: GET \/slow\?ms=3000 running for \d+ ms \(slowRequestThreshold 300 ms\)$/);
    expect(stderr).toContain('GET /slow?ms=3000');
  });

  test('fast requests log nothing', async () => {
    const { app, sock } = await start({ SLOW_MS: '1000' });
    for (let i = 0; i < 20; i++) await get(sock, '/');
    await get(sock, '/slow?ms=50');
    expect(app.process.stderr()).not.toContain('slow request');
  });
});
