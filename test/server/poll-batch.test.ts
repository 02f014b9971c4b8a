// The JS thread's poll takes ready connections from the listener's epoll set in batches (Listener::NextReady).
// A batch taken is handed out whole before libuv gets its turn: an event taken out of the set and left in the
// batch would wait for some unrelated event to make the set readable again. The case: one request keeps the JS
// thread busy while exactly a batch's worth of kept connections (64) send theirs; all 64 must be answered with
// nothing else happening (before, the poll's callback stopped after 64 connections in all, the busy one
// included, and the 64th request of the batch sat there).
import { spawn, type ChildProcess } from 'child_process';
import net from 'net';
import path from 'path';
import { encodeBeginRequest, encodeParams, encodeRecord, encodeStreamRecords, RecordType, Role } from '../../lib/client/protocol';
import { makeTempDir } from '../helpers/tmp';

const root = path.join(__dirname, '..', '..');
const BATCH = 64; // Listener::kReadyBatch

const APP = `
const { createServer } = require(${JSON.stringify(path.join(root, 'dist'))});
const fs = require('fs');
const server = createServer((req) => {
  if (req.param('DOCUMENT_URI') === '/busy') {
    fs.writeSync(1, 'busy\\n');
    const until = Date.now() + 700;
    while (Date.now() < until); // the JS thread is held while the other connections send their requests
  }
  req.header({ 'Content-Type': 'text/plain' });
  req.print('ok ' + req.param('DOCUMENT_URI'));
}, { concurrency: 256 });
server.listen({ path: process.argv[1] }).then(() => fs.writeSync(1, 'listening\\n'));
`;

function requestBytes(uri: string, id: number): Buffer {
  return Buffer.concat([
    encodeRecord(RecordType.BEGIN_REQUEST, id, encodeBeginRequest(Role.RESPONDER, true)),
    encodeStreamRecords(RecordType.PARAMS, id, encodeParams({ REQUEST_METHOD: 'GET', DOCUMENT_URI: uri })),
    encodeStreamRecords(RecordType.STDIN, id, Buffer.alloc(0)),
  ]);
}

/** A kept connection: send() writes a request and resolves with its stdout when its END_REQUEST arrives. */
class Conn {
  readonly socket: net.Socket;
  #buf = Buffer.alloc(0);
  #stdout: Buffer[] = [];
  #waiting: ((stdout: string) => void) | undefined;
  #nextId = 1;

  constructor(sock: string) {
    this.socket = net.connect(sock);
    this.socket.on('data', (chunk: Buffer) => this.#onData(chunk));
  }
  send(uri: string): Promise<string> {
    return new Promise((resolve, reject) => {
      this.#waiting = resolve;
      this.socket.once('error', reject);
      this.socket.write(requestBytes(uri, this.#nextId++));
    });
  }
  #onData(chunk: Buffer): void {
    this.#buf = Buffer.concat([this.#buf, chunk]);
    while (this.#buf.length >= 8) {
      const length = this.#buf.readUInt16BE(4);
      const total = 8 + length + this.#buf[6];
      if (this.#buf.length < total) return;
      const type = this.#buf[1];
      if (type === RecordType.STDOUT) this.#stdout.push(this.#buf.subarray(8, 8 + length));
      this.#buf = this.#buf.subarray(total);
      if (type === RecordType.END_REQUEST) {
        const out = Buffer.concat(this.#stdout).toString('latin1');
        this.#stdout = [];
        const w = this.#waiting;
        this.#waiting = undefined;
        w?.(out);
      }
    }
  }
}

describe('createServer: the JS thread answers every connection of a batch it took', () => {
  let app: ChildProcess | undefined;
  const conns: Conn[] = [];

  afterAll(() => {
    for (const c of conns) c.socket.destroy();
    app?.kill('SIGKILL');
  });

  it(`answers ${BATCH} requests that became ready while one request held the JS thread`, async () => {
    const sock = path.join(makeTempDir('libfcgi-poll-batch-'), 's.sock');
    app = spawn(process.execPath, ['-e', APP, sock], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    const saw = (word: string) =>
      new Promise<void>((resolve, reject) => {
        const check = () => {
          if (out.includes(`${word}\n`)) resolve();
        };
        app?.stdout?.on('data', (chunk: Buffer) => {
          out += chunk.toString();
          check();
        });
        app?.once('exit', (code) => reject(new Error(`the app exited (${code})`)));
        check();
      });
    await saw('listening');

    // 1 + BATCH kept connections, each answered once: all idle and watched by the listener.
    for (let i = 0; i <= BATCH; i++) conns.push(new Conn(sock));
    const first = await Promise.all(conns.map((c, i) => c.send(`/warm-${i}`)));
    expect(first.every((s, i) => s.endsWith(`ok /warm-${i}`))).toBe(true);

    // The busy request is the one event of its poll callback's first batch; the others get ready meanwhile.
    const busy = conns[0].send('/busy');
    await saw('busy');
    const rest = conns.slice(1).map((c, i) => c.send(`/batch-${i}`));
    expect(await busy).toMatch(/ok \/busy$/);
    const answered: string[] = [];
    const all = Promise.all(rest.map((p) => p.then((s) => answered.push(s))));
    const timeout = new Promise((resolve) => setTimeout(resolve, 10_000).unref()); // a bound, not a wait: all 64 come in milliseconds
    await Promise.race([all, timeout]);
    expect(answered.length).toBe(BATCH);
  }, 30_000);
});
