// The request gate's global memory cap, maxBufferedBytes (issue 15; native/reactor.cc Listener::ChargeOrEvict):
// what the gate holds of all requests it is still reading is counted (stats().gateBufferedBytes) and kept under the
// cap by closing the incomplete requests that began longest ago first (stats().refusedByLimits); the others, and
// requests read whole, are served as usual. In the accept loop and the concurrent server.
import net from 'net';
import path from 'path';
import { createServer, FastCGI, type Server, type Stats } from '../../lib';
import { encodeBeginRequest, encodeParams, encodeRecord, fcgiRequest, RecordType } from '../../lib/client';
import { appCommand, appEnv, fixture, REPO_ROOT, waitForOutput } from '../helpers/app-process';
import { startProcess, type ProcessHandle } from '../helpers/process';
import { makeTempDir } from '../helpers/tmp';

jest.setTimeout(60000);

const CAP = 1 << 20; // the least maxBufferedBytes allowed
const RECORD = 65535; // a full PARAMS record's content
const DEFAULT_CAP = 64 * 2 ** 20; // maxBufferedBytes' default (README, SECURITY.md)

interface Target {
  path: string;
  stats(): Promise<Stats>;
  stop(): Promise<void>;
}

/** The accept loop in a child process (its one thread would block this one): test/fixtures/gate-sync-app.ts. */
async function startAcceptLoop(options: Record<string, unknown>): Promise<Target> {
  const sock = path.join(makeTempDir(), 'app.sock');
  const [node, ...args] = appCommand(fixture('gate-sync-app.ts'));
  const env = appEnv({ APP_OPTIONS: JSON.stringify({ path: sock, ...options }) });
  const proc: ProcessHandle = await startProcess(node, args, { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  await waitForOutput(proc, 'accepting', 20000);
  return {
    path: sock,
    stats: async () => {
      const res = await fcgiRequest({ path: sock }, { params: { REQUEST_METHOD: 'GET', REQUEST_URI: '/stats' } });
      return JSON.parse(res.body.toString()) as Stats;
    },
    stop: async () => {
      await proc.close();
    },
  };
}

async function startServer(concurrency: number, options: Record<string, unknown>): Promise<Target> {
  const sock = path.join(makeTempDir(), 'app.sock');
  const server: Server = createServer(
    (req) => {
      req.header({ 'Content-Type': 'text/plain' }).print(`ok ${req.param('REQUEST_URI') ?? ''}`);
    },
    { concurrency, handleSignals: false },
  );
  await server.listen({ path: sock, ...options });
  return { path: sock, stats: () => Promise.resolve(server.stats()), stop: () => server.close() };
}

const KINDS: Array<[string, (options: Record<string, unknown>) => Promise<Target>]> = [
  ['accept loop', startAcceptLoop],
  ['concurrent server, concurrency 1', (o) => startServer(1, o)],
  ['concurrent server, concurrency 4', (o) => startServer(4, o)],
];

/**
 * A connection that sent most of a request: BEGIN_REQUEST and the first `records` full PARAMS records (3 by
 * default) of a params stream a little longer than that, then an FCGI_GET_VALUES the gate answers once it has read
 * all that came before.
 */
class Half {
  readonly socket: net.Socket;
  readonly uri: string;
  /** The peer's EOF (or reset) came. */
  closed = false;
  ended = false;
  readonly closedPromise: Promise<Half>;
  #got: Buffer[] = [];
  #rest: Buffer;

  constructor(sock: string, uri: string, count = 3) {
    this.uri = uri;
    // Values of at most 1 MiB (maxParamValueLength's default), filling `count` records.
    const fills = Math.ceil((count * RECORD) / 1_000_000);
    const params: Record<string, string> = { REQUEST_METHOD: 'GET', REQUEST_URI: uri };
    for (let i = 0; i < fills; i++) params[`X_FILL${i}`] = 'x'.repeat(Math.ceil((count * RECORD) / fills));
    const stream = encodeParams(params);
    const records = Array.from({ length: count }, (_, i) =>
      encodeRecord(RecordType.PARAMS, 1, stream.subarray(i * RECORD, (i + 1) * RECORD)),
    );
    this.#rest = Buffer.concat([
      encodeRecord(RecordType.PARAMS, 1, stream.subarray(count * RECORD)),
      encodeRecord(RecordType.PARAMS, 1),
      encodeRecord(RecordType.STDIN, 1),
    ]);
    this.socket = net.connect(sock);
    this.socket.on('error', () => undefined); // a reset is one way of being closed
    this.socket.on('data', (d: Buffer) => this.#got.push(d));
    this.socket.on('end', () => (this.ended = true));
    this.closedPromise = new Promise((resolve) => this.socket.on('close', () => ((this.closed = true), resolve(this))));
    this.socket.write(
      Buffer.concat([
        encodeRecord(RecordType.BEGIN_REQUEST, 1, encodeBeginRequest(1, false)),
        ...records,
        encodeRecord(RecordType.GET_VALUES, 0, encodeParams({ FCGI_MAX_CONNS: '' })),
      ]),
    );
  }

  /** Resolves true once the GET_VALUES answer came (the gate read the whole part), false when closed first. */
  read(): Promise<boolean> {
    return new Promise((resolve) => {
      const check = (): void => {
        const got = Buffer.concat(this.#got);
        if (got.length >= 8 && got[1] === RecordType.GET_VALUES_RESULT) {
          this.socket.off('data', check);
          resolve(true);
        }
      };
      this.socket.on('data', check);
      void this.closedPromise.then(() => resolve(false));
      check();
    });
  }

  /** Sends the rest of the request; resolves with what came until the app closed the connection. */
  async finish(): Promise<string> {
    this.socket.write(this.#rest);
    await this.closedPromise;
    return Buffer.concat(this.#got).toString('latin1');
  }
}

/** The first of `halves` the app closes, or undefined when none is closed within ms. */
function firstClosed(halves: Half[], ms: number): Promise<Half | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), ms)));
  return Promise.race([...halves.map((h) => h.closedPromise), timeout]).finally(() => clearTimeout(timer));
}

describe.each(KINDS)('maxBufferedBytes: %s', (_name, start) => {
  let target: Target | undefined;
  const halves: Half[] = [];

  afterEach(async () => {
    for (const h of halves.splice(0)) h.socket.destroy();
    await target?.stop();
    target = undefined;
  });

  function open(uri: string, count?: number): Half {
    const h = new Half(target!.path, uri, count);
    halves.push(h);
    return h;
  }

  test('over the cap the oldest incomplete request is closed first; the others complete; the total returns to 0', async () => {
    target = await start({ maxBufferedBytes: CAP });
    const base = await target.stats();
    expect(base.gateBufferedBytes).toBe(0);

    // One at a time, each read whole by the gate before the next connects: their first bytes come in this order.
    const a = open('/a');
    expect(await a.read()).toBe(true);
    const one = (await target.stats()).gateBufferedBytes;
    expect(one).toBeGreaterThanOrEqual(3 * RECORD); // counted: at least what the gate stored
    const b = open('/b');
    expect(await b.read()).toBe(true);
    const c = open('/c');
    expect(await c.read()).toBe(true);
    const three = (await target.stats()).gateBufferedBytes;
    expect(three).toBe(3 * one);
    // The premise: three fit under the cap, a fourth like them does not.
    expect(three).toBeLessThanOrEqual(CAP);
    expect(three + one).toBeGreaterThan(CAP);

    const d = open('/d');
    const dRead = d.read();
    const first = await firstClosed([a, b, c, d], 10000);
    expect(first?.uri).toBe('/a'); // the oldest, not the newest nor the one being read
    expect(a.ended).toBe(true); // EOF, nothing answered
    expect(await dRead).toBe(true); // d itself is read on

    const after = await target.stats();
    expect(after.refusedByLimits).toBe(base.refusedByLimits + 1); // one closed was enough
    expect(after.gateBufferedBytes).toBe(three); // b, c and d
    expect(after.gateBufferedBytes).toBeLessThanOrEqual(CAP);

    // The others were left open and complete normally; a fresh request is answered.
    for (const h of [b, c, d]) expect(await h.finish()).toContain(`ok ${h.uri}`);
    const fresh = await fcgiRequest({ path: target.path }, { params: { REQUEST_METHOD: 'GET', REQUEST_URI: '/fresh' } });
    expect(fresh.body.toString()).toBe('ok /fresh');

    const end = await target.stats();
    expect(end.gateBufferedBytes).toBe(0);
    expect(end.refusedByLimits).toBe(base.refusedByLimits + 1);
  });

  test('the request being read is closed itself when it is the oldest', async () => {
    target = await start({ maxBufferedBytes: CAP });
    const base = await target.stats();
    const a = open('/a');
    expect(await a.read()).toBe(true);
    const one = (await target.stats()).gateBufferedBytes;
    const b = open('/b');
    const c = open('/c');
    expect(await b.read()).toBe(true);
    expect(await c.read()).toBe(true);
    expect(3 * one + one).toBeGreaterThan(CAP); // as above: a fourth part would not fit
    // a, the oldest, doubles what it sent (three more full PARAMS records: more pairs of 120-byte names and
    // values, which the gate only stores): a's own read takes the total over, and a is the one closed.
    a.socket.write(Buffer.concat([0, 1, 2].map(() => encodeRecord(RecordType.PARAMS, 1, Buffer.alloc(RECORD, 0x78)))));
    const first = await firstClosed([a, b, c], 10000);
    expect(first?.uri).toBe('/a');
    const after = await target.stats();
    expect(after.refusedByLimits).toBe(base.refusedByLimits + 1);
    for (const h of [b, c]) expect(await h.finish()).toContain(`ok ${h.uri}`);
    expect((await target.stats()).gateBufferedBytes).toBe(0);
  });

  test('by default the cap is 64 MiB', async () => {
    target = await start({});
    const a = open('/a', 48); // 3 MiB of params
    expect(await a.read()).toBe(true);
    const one = (await target.stats()).gateBufferedBytes;
    const fit = Math.floor(DEFAULT_CAP / one);
    expect(fit).toBeGreaterThanOrEqual(4);
    for (let i = 1; i < fit; i++) expect(await open(`/n${i}`, 48).read()).toBe(true);
    const full = await target.stats();
    expect(full.gateBufferedBytes).toBe(fit * one);
    expect(full.refusedByLimits).toBe(0); // all of them fit under 64 MiB
    const over = open('/over', 48);
    const first = await firstClosed(halves, 10000);
    expect(first?.uri).toBe('/a'); // one more does not
    expect(await over.read()).toBe(true);
    expect((await target.stats()).refusedByLimits).toBe(1);
  });

  test('connections closed by the peer or by readTimeout give their bytes back', async () => {
    target = await start({ maxBufferedBytes: CAP, readTimeout: 1000 });
    const a = open('/a');
    const b = open('/b');
    expect(await a.read()).toBe(true);
    expect(await b.read()).toBe(true);
    const two = (await target.stats()).gateBufferedBytes;
    expect(two).toBeGreaterThanOrEqual(6 * RECORD);
    a.socket.destroy(); // the peer goes: EOF seen by the gate
    // readTimeout closes b (its first byte 1 s ago); a's EOF comes long before
    await b.closedPromise;
    const end = await target.stats();
    expect(end.gateBufferedBytes).toBe(0);
    expect(end.refusedByLimits).toBe(0);
  });
});

describe('options.maxBufferedBytes', () => {
  test('a RangeError naming it under 1 MiB or not an integer, a TypeError when not a number, in both servers', async () => {
    for (const bad of [0, CAP - 1, CAP + 0.5, Infinity]) {
      expect(() => new FastCGI({ path: '/tmp/never.sock', maxBufferedBytes: bad })).toThrow(
        expect.objectContaining({
          name: 'RangeError',
          code: 'ERR_OUT_OF_RANGE',
          message: expect.stringContaining('options.maxBufferedBytes'),
        }),
      );
      await expect(
        createServer(() => undefined, { handleSignals: false }).listen({ path: '/tmp/never.sock', maxBufferedBytes: bad }),
      ).rejects.toThrow(expect.objectContaining({ name: 'RangeError', message: expect.stringContaining('options.maxBufferedBytes') }));
    }
    expect(() => new FastCGI({ path: '/tmp/never.sock', maxBufferedBytes: '2MB' as unknown as number })).toThrow(
      expect.objectContaining({
        name: 'TypeError',
        code: 'ERR_INVALID_ARG_TYPE',
        message: expect.stringContaining('options.maxBufferedBytes'),
      }),
    );
  });
});
