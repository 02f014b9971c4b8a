// The concurrent server's operator view: stats() moved by real traffic, the statusPath page, the slow-request log.
import path from 'path';
import { createServer, type Server, type Stats } from '../../lib';
import { FastCGIClient, fcgiRequest } from '../../lib/client';
import { makeTempDir } from '../helpers/tmp';

jest.setTimeout(60000);

const contentType = (headers: Array<[string, string]>) => headers.find(([n]) => n.toLowerCase() === 'content-type')?.[1];

const get = (sock: string, uri: string, extra: Record<string, string> = {}) => {
  const [p, q = ''] = uri.split('?');
  return fcgiRequest(
    { path: sock, timeout: 20000 },
    { params: { REQUEST_METHOD: 'GET', REQUEST_URI: uri, SCRIPT_NAME: p, QUERY_STRING: q, ...extra } },
  );
};

describe('concurrent server: stats()', () => {
  let server: Server | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  test('requests, failures, aborts, bytes and connections move the counters as they happen', async () => {
    const sock = path.join(makeTempDir(), 'app.sock');
    let release: (() => void) | undefined;
    const aborted = new Promise<void>((resolve) => {
      server = createServer(
        async (req) => {
          const uri = req.param('REQUEST_URI');
          if (uri === '/fail') throw new Error('deliberate');
          if (uri === '/wait') {
            await new Promise<void>((r) => (release = r));
            req.print('waited');
            return;
          }
          if (uri === '/hang') {
            await new Promise<void>((r) => req.signal.addEventListener('abort', () => r()));
            resolve();
            return;
          }
          const body = await req.bytes();
          req.header({ 'Content-Type': 'text/plain' }).print('y'.repeat(1000 + body.length));
        },
        { handleSignals: false },
      );
    });
    if (server === undefined) throw new Error('createServer did not run');
    const before = server.stats();
    expect(before.accepted).toBe(0);
    await server.listen({ path: sock });
    const s0 = server.stats();
    expect(s0).toMatchObject({
      accepted: 0,
      completed: 0,
      aborted: 0,
      failed: 0,
      requestsInFlight: 0,
      refusedByGate: 0,
      refusedByLimits: 0,
    });

    for (let i = 0; i < 5; i++) {
      const res = await fcgiRequest(
        { path: sock },
        { params: { REQUEST_METHOD: 'POST', REQUEST_URI: '/echo', CONTENT_LENGTH: '3000' }, body: Buffer.alloc(3000, 1) },
      );
      expect(res.body.length).toBe(4000);
    }
    const s1 = server.stats();
    expect(s1.accepted).toBe(5);
    expect(s1.completed).toBe(5);
    expect(s1.bytesOut).toBeGreaterThanOrEqual(5 * 4000);
    expect(s1.bytesIn).toBeGreaterThanOrEqual(5 * 3000);
    expect(s1.failed).toBe(0);

    const failed = await get(sock, '/fail');
    expect(failed.status).toBe(500);
    const s2 = server.stats();
    expect(s2.failed).toBe(1);
    expect(s2.completed).toBe(6);

    // One in flight: busy, in flight; once answered, its kept connection is idle.
    const client = await FastCGIClient.connect({ path: sock }, { keepConn: true });
    const waiting = client.request({ params: { REQUEST_METHOD: 'GET', REQUEST_URI: '/wait' } }).response();
    while (release === undefined) await new Promise((r) => setTimeout(r, 10));
    const s3 = server.stats();
    expect(s3.requestsInFlight).toBe(1);
    expect(s3.connectionsBusy).toBe(1);
    expect(s3.accepted - s3.completed).toBe(1);
    release();
    await waiting;
    let s4: Stats = server.stats();
    for (let i = 0; i < 100 && s4.connectionsIdle < 1; i++) {
      await new Promise((r) => setTimeout(r, 20));
      s4 = server.stats();
    }
    expect(s4.connectionsIdle).toBe(1);
    expect(s4.connectionsOpen).toBe(1);
    expect(s4.requestsInFlight).toBe(0);
    await client.close();

    // A request whose client goes away while the handler awaits: aborted.
    const hanging = await FastCGIClient.connect({ path: sock });
    const hang = hanging.request({ params: { REQUEST_METHOD: 'GET', REQUEST_URI: '/hang' } });
    hang.done.catch(() => undefined);
    await new Promise((r) => setTimeout(r, 200));
    await hanging.close();
    await aborted;
    await new Promise((r) => setImmediate(r));
    const s5 = server.stats();
    expect(s5.aborted).toBe(1);
    expect(s5.completed).toBe(s5.accepted);
    expect(s5.uptime).toBeGreaterThan(0);
    expect(s5.startTime).toBeLessThanOrEqual(Date.now());
  });
});

describe('concurrent server: statusPath', () => {
  let server: Server | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  test('the status page answers text and ?json without calling the handler; other paths reach the app', async () => {
    const sock = path.join(makeTempDir(), 'app.sock');
    const seen: string[] = [];
    server = createServer(
      (req) => {
        seen.push(req.param('REQUEST_URI') ?? '');
        req.header({ 'Content-Type': 'text/plain' }).print('app');
      },
      { handleSignals: false, statusPath: '/fcgi-status' },
    );
    await server.listen({ path: sock });
    await get(sock, '/hello');
    const text = await get(sock, '/fcgi-status');
    expect(text.status).toBe(200);
    expect(contentType(text.headers)).toMatch(/^text\/plain/);
    expect(text.body.toString()).toMatch(/^accepted requests: +2$/m);
    expect(text.body.toString()).toMatch(/^completed requests: +1$/m);
    const json = await get(sock, '/fcgi-status?json');
    expect(contentType(json.headers)).toBe('application/json');
    const parsed = JSON.parse(json.body.toString()) as Stats;
    expect(parsed.accepted).toBe(3);
    expect(parsed.completed).toBe(2);
    // REQUEST_URI alone (no SCRIPT_NAME) matches too; a longer path does not.
    const byUri = await fcgiRequest({ path: sock }, { params: { REQUEST_METHOD: 'GET', REQUEST_URI: '/fcgi-status?json' } });
    expect(JSON.parse(byUri.body.toString())).toHaveProperty('accepted', 4);
    await get(sock, '/fcgi-status/more');
    expect(seen).toEqual(['/hello', '/fcgi-status/more']);
  });

  test('without statusPath the path goes to the application; a bad statusPath is a RangeError/TypeError', async () => {
    const sock = path.join(makeTempDir(), 'app.sock');
    server = createServer((req) => void req.header({ 'Content-Type': 'text/plain' }).print('app'), { handleSignals: false });
    await server.listen({ path: sock });
    expect((await get(sock, '/fcgi-status')).body.toString()).toBe('app');
    expect(() => createServer(() => undefined, { statusPath: 'fcgi-status' })).toThrow(
      expect.objectContaining({ name: 'RangeError', code: 'ERR_OUT_OF_RANGE' }),
    );
    expect(() => createServer(() => undefined, { statusPath: 5 as unknown as string })).toThrow(
      expect.objectContaining({ name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' }),
    );
  });
});

describe('concurrent server: slowRequestThreshold', () => {
  let server: Server | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  const start = async (threshold: number) => {
    const sock = path.join(makeTempDir(), 'app.sock');
    server = createServer(
      async (req) => {
        const ms = Number(req.query.get('ms') ?? 0);
        if (ms > 0) await new Promise((r) => setTimeout(r, ms));
        req.print('done');
      },
      { handleSignals: false, slowRequestThreshold: threshold },
    );
    await server.listen({ path: sock });
    return sock;
  };

  /** The request's FCGI_STDERR text, and whether the first stderr bytes came while the response was still open. */
  const run = async (sock: string, uri: string) => {
    const client = await FastCGIClient.connect({ path: sock }, { timeout: 20000 });
    const req = client.request({ params: { REQUEST_METHOD: 'GET', REQUEST_URI: uri, QUERY_STRING: uri.split('?')[1] ?? '' } });
    let stderrBeforeEnd = false;
    let ended = false;
    req.stderr.once('data', () => (stderrBeforeEnd = !ended));
    const res = await req.response();
    ended = true;
    await client.close();
    return { stderr: res.stderr.toString(), stderrBeforeEnd };
  };

  test('a slow request logs method, URI and elapsed time once, to its FCGI_STDERR, while it still runs', async () => {
    const sock = await start(300);
    const slow = await run(sock, '/slow?ms=1500');
    const lines = slow.stderr.split('\n').filter(Boolean);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^libfcgi: slow request: GET \/slow\?ms=1500 running for \d+ ms \(slowRequestThreshold 300 ms\)$/);
    const ms = Number(/running for (\d+) ms/.exec(lines[0])?.[1]);
    expect(ms).toBeGreaterThanOrEqual(300);
    expect(ms).toBeLessThan(1500); // written while it ran, not at its end
    expect(slow.stderrBeforeEnd).toBe(true);
  });

  test('a fast request logs nothing; a very slow one still logs once', async () => {
    const sock = await start(200);
    expect((await run(sock, '/fast')).stderr).toBe('');
    const verySlow = await run(sock, '/slow?ms=2500');
    expect(verySlow.stderr.split('\n').filter(Boolean)).toHaveLength(1);
  });
});
