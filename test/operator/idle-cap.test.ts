// The cap on connections waiting between requests (native/socket.cc kMaxIdleConnections, 4096; SECURITY.md
// "Defaults"): connections beyond it are closed as they arrive (the newest), the ones held before stay open and
// are served.
import net from 'net';
import path from 'path';
import { createServer, type Server } from '../../lib';
import { FastCGIClient } from '../../lib/client';
import { makeTempDir } from '../helpers/tmp';

jest.setTimeout(120000);

const CAP = 4096;
const EXTRA = 20;

describe('idle-connection cap', () => {
  let server: Server | undefined;
  const sockets: net.Socket[] = [];
  afterEach(async () => {
    for (const s of sockets.splice(0)) s.destroy();
    await server?.close();
    server = undefined;
  });

  test(`with ${CAP} silent connections held, the next ones are closed at once; the held ones stay open and are served`, async () => {
    const sock = path.join(makeTempDir(), 'app.sock');
    server = createServer((req) => void req.header({ 'Content-Type': 'text/plain' }).print('ok'), { handleSignals: false });
    await server.listen({ path: sock, readTimeout: 0, idleTimeout: 0 });
    const closed = new Set<number>();
    const open = (i: number) =>
      new Promise<void>((resolve, reject) => {
        const s = net.connect(sock);
        sockets.push(s);
        s.on('error', () => undefined); // a reset is one way of being closed
        s.on('close', () => closed.add(i));
        s.once('connect', () => resolve());
        s.once('error', reject);
      });
    for (let i = 0; i < CAP; i += 256) await Promise.all(Array.from({ length: Math.min(256, CAP - i) }, (_, k) => open(i + k)));
    // All of them are watched by the dispatcher before more arrive (stats() counts them).
    while (server.stats().connectionsIdle < CAP) await new Promise((r) => setTimeout(r, 20));
    expect(server.stats().connectionsIdle).toBe(CAP);
    expect(closed.size).toBe(0);

    const extraClosed: Promise<void>[] = [];
    for (let i = CAP; i < CAP + EXTRA; i++) {
      await open(i);
      const s = sockets[i];
      extraClosed.push(new Promise((resolve) => (s.destroyed && closed.has(i) ? resolve() : s.once('close', () => resolve()))));
    }
    // Each newest one beyond the cap is closed by the server (at once; 15 s is only a bound for a clear failure).
    let bound: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all(extraClosed),
      new Promise((_, reject) => (bound = setTimeout(() => reject(new Error(`the ${EXTRA} connections beyond the cap were not closed`)), 15000))),
    ]).finally(() => clearTimeout(bound));
    for (let i = CAP; i < CAP + EXTRA; i++) expect(closed.has(i)).toBe(true);
    expect([...closed].filter((i) => i < CAP)).toEqual([]); // none of the held ones
    expect(server.stats().connectionsIdle).toBe(CAP);

    // The oldest held connection is still served: a request on it gets its answer.
    const first = sockets[0];
    const { encodeBeginRequest, encodeParams, encodeRecord, RecordType } = await import('../../lib/client/protocol');
    const { RecordDecoder } = await import('../../lib/client/record-decoder');
    const decoder = new RecordDecoder();
    const got = new Promise<string>((resolve) => {
      let out = '';
      first.on('data', (chunk: Buffer) => {
        for (const r of decoder.push(chunk)) {
          if (r.type === RecordType.STDOUT) out += r.content.toString();
          if (r.type === RecordType.END_REQUEST) resolve(out);
        }
      });
    });
    first.write(
      Buffer.concat([
        encodeRecord(RecordType.BEGIN_REQUEST, 1, encodeBeginRequest(1, false)),
        encodeRecord(RecordType.PARAMS, 1, encodeParams({ REQUEST_METHOD: 'GET', REQUEST_URI: '/' })),
        encodeRecord(RecordType.PARAMS, 1, Buffer.alloc(0)),
        encodeRecord(RecordType.STDIN, 1, Buffer.alloc(0)),
      ]),
    );
    expect(await got).toMatch(/\r\n\r\nok$/);
    void FastCGIClient; // (the raw records above are what a web server's kept connection sends)
  });
});
