// The request gate (issue 15): the reactor reads every request whole with non-blocking reads before fcgi2 and
// the app see it, so a peer that sends half a request holds no thread — in the accept loop (one thread) and in
// the concurrent server at any concurrency.
import net from 'net';
import path from 'path';
import { createServer, type Server } from '../../lib';
import { encodeBeginRequest, encodeHeader, encodeParams, encodeRecord, fcgiRequest, RecordType } from '../../lib/client';
import { appCommand, appEnv, fixture, REPO_ROOT, waitForOutput } from '../helpers/app-process';
import { startProcess, type ProcessHandle } from '../helpers/process';
import { makeTempDir } from '../helpers/tmp';

const READ_TIMEOUT_MS = 2000;

const begin = (id = 1, keep = false): Buffer => encodeRecord(RecordType.BEGIN_REQUEST, id, encodeBeginRequest(1, keep));
const params = (p: Record<string, string>, id = 1): Buffer =>
  Buffer.concat([encodeRecord(RecordType.PARAMS, id, encodeParams(p)), encodeRecord(RecordType.PARAMS, id)]);
const getValues = (): Buffer =>
  encodeRecord(RecordType.GET_VALUES, 0, encodeParams({ FCGI_MAX_CONNS: '', FCGI_MAX_REQS: '', FCGI_MPXS_CONNS: '' }));

/** The stalls of issue 15: each is sent on a connection that is then held open. */
const STALLS: Record<string, () => Buffer> = {
  'BEGIN + PARAMS never ending': () => Buffer.concat([begin(), encodeRecord(RecordType.PARAMS, 1, encodeParams({ A: 'b' }))]),
  'a PARAMS record announcing 65535 bytes and sending 100': () =>
    Buffer.concat([begin(), encodeHeader(RecordType.PARAMS, 1, 65535), Buffer.alloc(100, 0x41)]),
  'a lone complete GET_VALUES': getValues,
  'CONTENT_LENGTH 100 and 10 bytes of STDIN': () =>
    Buffer.concat([
      begin(),
      params({ CONTENT_LENGTH: '100', REQUEST_METHOD: 'POST' }),
      encodeRecord(RecordType.STDIN, 1, Buffer.alloc(10, 0x61)),
    ]),
  'a record header cut at 5 of 8 bytes': () => begin().subarray(0, 5),
};

interface Target {
  path: string;
  stop(): Promise<void>;
  refusedByGate(): Promise<number>;
}

/** The accept loop, in a child process (its one thread would block this one): test/fixtures/gate-sync-app.ts. */
async function startAcceptLoop(readTimeout = READ_TIMEOUT_MS): Promise<Target> {
  const sock = path.join(makeTempDir(), 'app.sock');
  const [node, ...args] = appCommand(fixture('gate-sync-app.ts'));
  const env = appEnv({ APP_OPTIONS: JSON.stringify({ path: sock, readTimeout }) });
  const proc: ProcessHandle = await startProcess(node, args, { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  await waitForOutput(proc, 'accepting', 20000);
  return {
    path: sock,
    stop: async () => {
      await proc.close();
    },
    refusedByGate: async () => {
      const res = await fcgiRequest({ path: sock }, { params: { REQUEST_METHOD: 'GET', REQUEST_URI: '/stats' } });
      return (JSON.parse(res.body.toString()) as { refusedByGate: number }).refusedByGate;
    },
  };
}

async function startServer(concurrency: number, readTimeout = READ_TIMEOUT_MS): Promise<Target & { server: Server }> {
  const sock = path.join(makeTempDir(), 'app.sock');
  const server = createServer(
    (req) => {
      req.header({ 'Content-Type': 'text/plain' }).print(`ok ${req.param('REQUEST_URI') ?? ''}`);
    },
    { concurrency, handleSignals: false },
  );
  await server.listen({ path: sock, readTimeout });
  return { path: sock, server, stop: () => server.close(), refusedByGate: async () => server.stats().refusedByGate };
}

const KINDS: Array<[string, (readTimeout?: number) => Promise<Target>]> = [
  ['accept loop', startAcceptLoop],
  ['concurrent server, concurrency 1', (rt) => startServer(1, rt)],
  ['concurrent server, concurrency 4', (rt) => startServer(4, rt)],
];

describe.each(KINDS)('request gate: %s', (_name, start) => {
  let target: Target | undefined;
  const sockets: net.Socket[] = [];

  afterEach(async () => {
    for (const s of sockets.splice(0)) s.destroy();
    await target?.stop();
    target = undefined;
  });

  function stall(bytes: Buffer): Promise<net.Socket> {
    return new Promise((resolve, reject) => {
      const s = net.connect(target!.path, () => s.write(bytes, () => resolve(s)));
      s.on('error', reject);
      sockets.push(s);
    });
  }

  async function timedRequest(uri: string): Promise<number> {
    const t0 = process.hrtime.bigint();
    const res = await fcgiRequest(
      { path: target!.path, timeout: READ_TIMEOUT_MS * 2 },
      { params: { REQUEST_METHOD: 'GET', REQUEST_URI: uri } },
    );
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    expect(res.body.toString()).toContain(uri);
    return ms;
  }

  test.each(Object.keys(STALLS))('with a stall in place (%s), a fresh request is answered in < 100 ms', async (kind) => {
    target = await start();
    await timedRequest('/warm'); // the app compiled and running
    const s = await stall(STALLS[kind]());
    const got: Buffer[] = [];
    s.on('data', (d: Buffer) => got.push(d));
    // The stall connected and wrote first, so it is accepted (and, without the gate, read by fcgi2) first.
    const ms = await timedRequest('/fresh');
    expect(ms).toBeLessThan(100);
    if (kind === 'a lone complete GET_VALUES') {
      // Answered at once by the dispatcher; the connection stays open and watched.
      const reply = Buffer.concat(got);
      expect(reply[1]).toBe(RecordType.GET_VALUES_RESULT);
      expect(reply.toString('latin1')).toContain('FCGI_MAX_CONNS');
      expect(s.destroyed).toBe(false);
      s.write(getValues()); // and again: still watched, still answered
      await new Promise<void>((resolve) => s.once('data', () => resolve()));
    }
  });

  test('1,000 stalls at once (mixed): a fresh request is answered in < 100 ms', async () => {
    target = await start();
    await timedRequest('/warm');
    const kinds = Object.values(STALLS);
    const all: Promise<net.Socket>[] = [];
    for (let i = 0; i < 1000; i++) all.push(stall(kinds[i % kinds.length]()));
    await Promise.all(all);
    // Behind the 1,000 in the listen backlog: each is accepted and read before this one.
    expect(await timedRequest('/fresh')).toBeLessThan(100);
  }, 60000);

  test('an incomplete request is closed readTimeout after its first byte, however slowly it dribbles', async () => {
    target = await start();
    await timedRequest('/warm');
    const whole = Buffer.concat([begin(), params({ REQUEST_URI: '/dribble' })]);
    const s = await stall(whole.subarray(0, 1));
    const t0 = Date.now();
    let sent = 1;
    const timer = setInterval(() => {
      if (sent < whole.length - 1 && !s.destroyed) s.write(whole.subarray(sent, ++sent));
    }, 250);
    const closedAfter = await new Promise<number>((resolve) => s.on('close', () => resolve(Date.now() - t0)));
    clearInterval(timer);
    expect(closedAfter).toBeGreaterThanOrEqual(READ_TIMEOUT_MS * 0.9);
    expect(closedAfter).toBeLessThan(READ_TIMEOUT_MS + 1500); // not extended by the bytes it kept sending
  }, 20000);

  test('a request split in one-byte writes is still served whole', async () => {
    target = await start();
    const s = await stall(Buffer.alloc(0));
    const whole = Buffer.concat([begin(), params({ REQUEST_METHOD: 'GET', REQUEST_URI: '/bytes' }), encodeRecord(RecordType.STDIN, 1)]);
    const got: Buffer[] = [];
    s.on('data', (d: Buffer) => got.push(d));
    const closed = new Promise<void>((resolve) => s.on('close', () => resolve()));
    for (const b of whole) {
      s.write(Buffer.from([b]));
      await new Promise((r) => setImmediate(r));
    }
    await closed;
    expect(Buffer.concat(got).toString('latin1')).toContain('ok /bytes');
  });

  test('bodies larger than 64 KiB stream as before', async () => {
    target = await start();
    const body = Buffer.alloc(300 * 1024, 0x62);
    const res = await fcgiRequest(
      { path: target.path },
      { params: { REQUEST_METHOD: 'POST', REQUEST_URI: '/big', CONTENT_LENGTH: String(body.length) }, body },
    );
    expect(res.body.toString()).toBe('ok /big');
  });

  test('a protocol error is refused by the gate, counted in stats().refusedByGate, and serving goes on', async () => {
    target = await start();
    await timedRequest('/warm');
    const before = await target.refusedByGate();
    const bad = Buffer.from(begin());
    bad[0] = 2; // FastCGI version 2
    const s = await stall(bad);
    await new Promise<void>((resolve) => s.on('close', () => resolve()));
    expect(await target.refusedByGate()).toBe(before + 1);
    await timedRequest('/after');
  });
});

describe('FCGI_ABORT_REQUEST while a concurrent handler awaits', () => {
  let server: Server | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  test.each([1, 4])('fires req.signal (concurrency %i)', async (concurrency) => {
    const sock = path.join(makeTempDir(), 'app.sock');
    let started!: () => void;
    const handlerStarted = new Promise<void>((resolve) => (started = resolve));
    let fired!: (ms: number) => void;
    const signalFired = new Promise<number>((resolve) => (fired = resolve));
    server = createServer(
      async (req) => {
        started();
        const t0 = Date.now();
        await new Promise<void>((resolve) => {
          req.signal.addEventListener('abort', () => resolve());
          setTimeout(resolve, 5000).unref(); // without the abort: gives up after 5 s
        });
        fired(req.signal.aborted ? Date.now() - t0 : -1);
      },
      { concurrency, handleSignals: false },
    );
    await server.listen({ path: sock });
    const s = net.connect(sock);
    s.on('error', () => {});
    await new Promise<void>((resolve) => s.once('connect', () => resolve()));
    s.write(
      Buffer.concat([begin(1, true), params({ REQUEST_METHOD: 'GET', REQUEST_URI: '/abort-me' }), encodeRecord(RecordType.STDIN, 1)]),
    );
    await handlerStarted;
    // Sent whenever: bytes already there when the addon starts watching the connection wake it (level-triggered).
    s.write(encodeRecord(RecordType.ABORT_REQUEST, 1));
    const ms = await signalFired;
    s.destroy();
    expect(ms).toBeGreaterThanOrEqual(0); // -1: the signal never fired
    expect(ms).toBeLessThan(2000);
  });
});
