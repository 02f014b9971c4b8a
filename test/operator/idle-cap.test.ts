// maxConnections (native/reactor.cc; SECURITY.md "Defaults"): over it, the connection idle longest is closed to
// admit a new one (a web server re-opens a kept connection it finds closed; refusing the new one would be its
// 502), and stats().refusedByLimits counts each one closed. New connections that have sent nothing get a short
// first-byte timeout (10 s, or readTimeout when shorter), 1 s while more than half of maxConnections are held.
import path from 'path';
import { createServer, FastCGI, type Server } from '../../lib';
import { Kept } from '../helpers/kept-conn';
import { makeTempDir } from '../helpers/tmp';

jest.setTimeout(120000);

const MAX = 40;
const EXTRA = 10;

describe('maxConnections', () => {
  let server: Server | undefined;
  const conns: Kept[] = [];
  afterEach(async () => {
    for (const c of conns.splice(0)) c.socket.destroy();
    await server?.close();
    server = undefined;
  });

  test('options.maxConnections: a RangeError naming it for bad values, in both servers', () => {
    for (const bad of [0, -1, 1.5, 2 ** 31]) {
      expect(() => new FastCGI({ path: '/tmp/never.sock', maxConnections: bad })).toThrow(
        expect.objectContaining({
          name: 'RangeError',
          code: 'ERR_OUT_OF_RANGE',
          message: expect.stringContaining('options.maxConnections'),
        }),
      );
    }
    const s = createServer(() => undefined, { handleSignals: false });
    return expect(s.listen({ path: '/tmp/never.sock', maxConnections: 0 })).rejects.toThrow(/options\.maxConnections/);
  });

  test(`with ${MAX} kept connections idle, each new one closes the one idle longest; the new ones and the rest are served`, async () => {
    const sock = path.join(makeTempDir(), 'app.sock');
    server = createServer((req) => void req.header({ 'Content-Type': 'text/plain' }).print('ok'), { handleSignals: false });
    await server.listen({ path: sock, readTimeout: 0, idleTimeout: 0, maxConnections: MAX });
    // One at a time, so the order they went idle in is the order they were opened.
    for (let i = 0; i < MAX; i++) {
      const c = new Kept(sock);
      conns.push(c);
      await c.connected();
      expect(await c.request()).toBe('ok');
      while (server.stats().connectionsIdle < i + 1) await new Promise((r) => setTimeout(r, 5));
    }
    expect(server.stats().connectionsIdle).toBe(MAX);
    expect(server.stats().refusedByLimits).toBe(0);

    for (let i = 0; i < EXTRA; i++) {
      const c = new Kept(sock);
      conns.push(c);
      await c.connected();
      expect(await c.request()).toBe('ok'); // the new one is served
      // and the one idle longest is closed to keep it (at once; 10 s is only a bound for a clear failure)
      await Promise.race([
        conns[i].closedAt,
        new Promise((_, reject) => setTimeout(() => reject(new Error(`connection ${i}, idle longest, was not closed`)), 10000).unref()),
      ]);
    }
    expect(conns.filter((c) => c.closed).length).toBe(EXTRA);
    expect(conns.slice(0, EXTRA).every((c) => c.closed)).toBe(true);
    expect(server.stats().refusedByLimits).toBe(EXTRA);
    expect(server.stats().connectionsIdle).toBe(MAX);
    // The others are open and still served (each request re-arms it: now the newest idle).
    for (const c of conns.slice(EXTRA)) expect(await c.request()).toBe('ok');
    expect(conns.filter((c) => c.closed).length).toBe(EXTRA);
  });

  test('a new connection that sends nothing is closed after 10 s; 1 s when more than half of maxConnections are held', async () => {
    const sock = path.join(makeTempDir(), 'app.sock');
    server = createServer((req) => void req.header({ 'Content-Type': 'text/plain' }).print('ok'), { handleSignals: false });
    await server.listen({ path: sock, idleTimeout: 0, maxConnections: 10 });
    const calm = new Kept(sock);
    conns.push(calm);
    await calm.connected();
    const calmOpened = Date.now();
    while (server.stats().connectionsIdle < 1) await new Promise((r) => setTimeout(r, 5));
    // Five kept connections idle as well: six of ten held, over half.
    for (let i = 0; i < 5; i++) {
      const c = new Kept(sock);
      conns.push(c);
      await c.connected();
      expect(await c.request()).toBe('ok');
    }
    while (server.stats().connectionsIdle < 6) await new Promise((r) => setTimeout(r, 5));
    const pressed = new Kept(sock);
    conns.push(pressed);
    await pressed.connected();
    const pressedOpened = Date.now();
    const pressedClosed = await pressed.closedAt;
    expect(pressedClosed - pressedOpened).toBeLessThan(5000);
    expect(calm.closed).toBe(false); // opened without pressure: 10 s
    const calmClosed = await calm.closedAt;
    expect(calmClosed - calmOpened).toBeGreaterThanOrEqual(9000);
    expect(calmClosed - calmOpened).toBeLessThan(20000);
    expect(conns.slice(1, 6).some((c) => c.closed)).toBe(false); // the kept ones: idleTimeout 0
  });
});
