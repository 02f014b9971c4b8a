// maxConnections when every watched connection is a lingering close (native/reactor.cc, Listener::Watch): there
// is nothing idle to evict, and closing a lingering one could RST away the response it is draining, so the
// newcomer is closed instead and counted in stats().refusedByLimits. Once the lingering ones close, new
// connections are served again.
import net from 'net';
import path from 'path';
import { createServer, type Server } from '../../lib';
import { encodeBeginRequest, encodeParams, encodeRecord, RecordDecoder, RecordType } from '../../lib/client';
import { makeTempDir } from '../helpers/tmp';

jest.setTimeout(60000);

const MAX = 16;

const requestBytes = (keepConn: boolean): Buffer =>
  Buffer.concat([
    encodeRecord(RecordType.BEGIN_REQUEST, 1, encodeBeginRequest(1, keepConn)),
    encodeRecord(RecordType.PARAMS, 1, encodeParams({ REQUEST_METHOD: 'GET', REQUEST_URI: '/' })),
    encodeRecord(RecordType.PARAMS, 1),
    encodeRecord(RecordType.STDIN, 1),
  ]);

/** Resolves when `s` closes; rejects after `ms` (a bound for a clear failure, not a wait). */
function closedWithin(s: net.Socket, ms: number, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    if (s.destroyed) return resolve();
    const timer = setTimeout(() => reject(new Error(`${what} was not closed within ${ms} ms`)), ms);
    s.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** A request sent in two writes (the first a header cut short), so the reactor watches the connection first. */
function twoStepRequest(sock: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    const s = net.connect(sock);
    const decoder = new RecordDecoder();
    let out = '';
    s.on('error', () => undefined);
    s.on('data', (d: Buffer) => {
      for (const r of decoder.push(d)) {
        if (r.type === RecordType.STDOUT) out += r.content.toString();
        if (r.type === RecordType.END_REQUEST) {
          s.destroy();
          resolve(out.split('\r\n\r\n')[1]);
        }
      }
    });
    s.on('close', () => resolve(undefined)); // refused (first call wins)
    const bytes = requestBytes(false);
    s.once('connect', () => s.write(bytes.subarray(0, 5), () => s.write(bytes.subarray(5))));
  });
}

describe('maxConnections with every watched connection lingering', () => {
  let server: Server | undefined;
  const sockets: net.Socket[] = [];
  const timers: NodeJS.Timeout[] = [];
  afterEach(async () => {
    for (const t of timers.splice(0)) clearInterval(t);
    for (const s of sockets.splice(0)) s.destroy();
    await server?.close();
    server = undefined;
  });

  test(`${MAX} lingering closes at maxConnections ${MAX}: a newcomer is closed and counted; served again once they close`, async () => {
    const sock = path.join(makeTempDir(), 'app.sock');
    server = createServer((req) => void req.header({ 'Content-Type': 'text/plain' }).print('ok'), { handleSignals: false });
    // No read/idle timeout: a watched newcomer would stay open for ever, so only the refusal closes it.
    await server.listen({ path: sock, readTimeout: 0, idleTimeout: 0, maxConnections: MAX });

    // MAX requests answered without FCGI_KEEP_CONN: the server half-closes each and drains it (a lingering close)
    // until the peer closes or stays silent for 2 s. These peers keep the read side open (allowHalfOpen) and
    // send a byte every 300 ms, so they linger for the whole test (the hard bound is 30 s).
    const lingering: net.Socket[] = [];
    await Promise.all(
      Array.from({ length: MAX }, async () => {
        const s = net.connect({ path: sock, allowHalfOpen: true });
        sockets.push(s);
        lingering.push(s);
        s.on('error', () => undefined);
        const decoder = new RecordDecoder();
        let answered = false;
        s.on('data', (d: Buffer) => {
          for (const r of decoder.push(d)) if (r.type === RecordType.END_REQUEST) answered = true;
        });
        await new Promise<void>((resolve) => s.once('connect', () => resolve()));
        s.write(requestBytes(false));
        await new Promise<void>((resolve) => s.once('end', () => resolve())); // the server's half-close
        expect(answered).toBe(true);
        timers.push(setInterval(() => s.writable && s.write('x'), 300));
      }),
    );
    const before = server.stats().refusedByLimits;

    // A newcomer with a header cut short: watched (gathering) if admitted; with readTimeout 0 nothing else would
    // close it.
    const newcomer = net.connect(sock);
    sockets.push(newcomer);
    newcomer.on('error', () => undefined);
    newcomer.once('connect', () => newcomer.write(requestBytes(true).subarray(0, 5)));
    await closedWithin(newcomer, 10000, 'the newcomer');
    expect(server.stats().refusedByLimits).toBe(before + 1);
    // No lingering one was closed to make room (its response could still be in flight).
    expect(lingering.filter((s) => s.destroyed).length).toBe(0);

    // The peers close: the drain sees EOF and closes them; new connections are served again.
    for (const t of timers.splice(0)) clearInterval(t);
    await Promise.all(lingering.map((s) => new Promise<void>((resolve) => s.end(() => resolve()))));
    let body: string | undefined;
    // Each attempt ends with an answer or a refusal (an event, no sleep): the drain of the closed peers runs on
    // the reactor's threads, in parallel with the first attempts' accept.
    for (let attempt = 0; attempt < 50 && body === undefined; attempt++) body = await twoStepRequest(sock);
    expect(body).toBe('ok');
    const after = server.stats().refusedByLimits;
    // And a few more, none refused.
    for (let i = 0; i < 4; i++) expect(await twoStepRequest(sock)).toBe('ok');
    expect(server.stats().refusedByLimits).toBe(after);
  });
});
