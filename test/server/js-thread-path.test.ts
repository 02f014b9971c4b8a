// "A request the gate read whole is read, handled and answered on the JS thread; one that is not (a body over
// 64 KiB) is read by a worker thread" (README, "Which calls may block"; ARCHITECTURE.md, "A request's path"),
// shown at the system-call level: the app runs under strace -f, whose log names the thread of every call, and the
// JS thread is the process's main thread (its thread id is the process id).
import fs from 'fs';
import net from 'net';
import path from 'path';
import { encodeBeginRequest, encodeParams, encodeRecord, encodeStreamRecords, RecordType, Role } from '../../lib/client/protocol';
import { describeWithBinaries } from '../helpers/binaries';
import { startTracedApp, type TracedApp } from '../helpers/traced-app';
import { makeTempDir } from '../helpers/tmp';

const root = path.join(__dirname, '..', '..');
const SMALL_URI = '/js-thread-small';
const BIG_URI = '/worker-big';
const TAIL = 'TAIL-OF-THE-BIG-BODY';
const EDGE_URI = '/edge-64k';
// FCGI_STDIN's empty record (the end of the body) for request id 1.
const STDIN_END = Buffer.from([1, 5, 0, 1, 0, 0, 0, 0]);

const APP = `
const { createServer } = require(${JSON.stringify(path.join(root, 'dist'))});
const server = createServer(async (req) => {
  const body = await req.text();
  req.header({ 'Content-Type': 'text/plain' });
  req.print('answer ' + req.env.DOCUMENT_URI + ' ' + body.length + (body.endsWith(${JSON.stringify(TAIL)}) ? ' tail' : ''));
});
server.listen({ path: process.argv[1] }).then(() => process.stdout.write(\`listening \${process.pid}\\n\`));
`;

function requestBytes(uri: string, body: Buffer): Buffer {
  const params = encodeParams({ REQUEST_METHOD: 'POST', DOCUMENT_URI: uri, CONTENT_LENGTH: String(body.length) });
  return Buffer.concat([
    encodeRecord(RecordType.BEGIN_REQUEST, 1, encodeBeginRequest(Role.RESPONDER, false)),
    encodeStreamRecords(RecordType.PARAMS, 1, params),
    encodeStreamRecords(RecordType.STDIN, 1, body),
  ]);
}

/** One request; `late` (if any) is sent lateMs after the rest, as a slow web server would. */
function exchange(sock: string, bytes: Buffer, late?: Buffer, lateMs = 300): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = net.connect(sock);
    socket.setTimeout(20_000, () => socket.destroy(new Error('no answer from the app in 20 s')));
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
    socket.write(bytes);
    if (late) setTimeout(() => socket.write(late), lateMs);
  });
}

interface Call {
  tid: number;
  name: string;
  bytes: Buffer;
}

/**
 * Every traced call of the log: its thread, its name and the bytes strace printed (-xx: each byte as \\xHH). A call
 * another thread interrupted comes as two lines ("tid name(args <unfinished ...>", then "tid <... name resumed>
 * rest"): they are joined, so the bytes a read returned (printed in the second line) count for it.
 */
function calls(trace: string): Call[] {
  const out: Call[] = [];
  const unfinished = new Map<number, { name: string; text: string }>();
  const push = (tid: number, name: string, text: string) => {
    const bytes = Buffer.from((text.match(/\\x[0-9a-f]{2}/g) ?? []).map((h) => parseInt(h.slice(2), 16)));
    out.push({ tid, name, bytes });
  };
  for (const line of trace.split('\n')) {
    const resumed = /^(\d+)\s+<\.\.\. (\w+) resumed>(.*)$/.exec(line);
    if (resumed) {
      const tid = Number(resumed[1]);
      const start = unfinished.get(tid);
      unfinished.delete(tid);
      push(tid, resumed[2], (start?.text ?? '') + resumed[3]);
      continue;
    }
    const m = /^(\d+)\s+(\w+)\(/.exec(line);
    if (!m) continue;
    if (line.endsWith('<unfinished ...>')) unfinished.set(Number(m[1]), { name: m[2], text: line });
    else push(Number(m[1]), m[2], line);
  }
  return out;
}

const INPUT = new Set(['read', 'recvfrom', 'recvmsg']);
const OUTPUT = new Set(['write', 'writev', 'sendmsg', 'sendto']);

describeWithBinaries(['strace'])('createServer: which thread reads and answers a request (under strace -f)', () => {
  let app: TracedApp | undefined;
  afterEach(() => app?.kill());

  test('a whole request: the JS thread reads and answers it; a 300 KiB body, or a 64 KiB one whose end is late: a worker thread reads the rest', async () => {
    const dir = makeTempDir('fcgi-jspath-');
    const sock = path.join(dir, 'app.sock');
    const traceFile = path.join(dir, 'trace.txt');
    app = await startTracedApp(APP, [sock], traceFile, [...INPUT, ...OUTPUT, 'accept', 'accept4'], 400000);
    const { pid: appPid, exited } = app;

    const small = Buffer.from('a small body');
    expect(await exchange(sock, requestBytes(SMALL_URI, small))).toContain(`answer ${SMALL_URI} ${small.length}`);
    const big = Buffer.concat([Buffer.alloc(300 * 1024 - TAIL.length, 0x62), Buffer.from(TAIL)]);
    expect(await exchange(sock, requestBytes(BIG_URI, big))).toContain(`answer ${BIG_URI} ${big.length} tail`);
    // Exactly 64 KiB declared and sent, the end of the body 300 ms later: the gate hands the request over at 64 KiB
    // (not whole), and fcgi2 must wait for the end: on a worker, not on the JS thread.
    const edge = requestBytes(EDGE_URI, Buffer.alloc(64 * 1024, 0x63));
    const edgeHead = edge.subarray(0, edge.length - STDIN_END.length);
    expect(edge.subarray(edgeHead.length).equals(STDIN_END)).toBe(true);
    expect(await exchange(sock, edgeHead, STDIN_END)).toContain(`answer ${EDGE_URI} ${64 * 1024}`);
    process.kill(appPid, 'SIGTERM');
    expect(await exited).toBe(0);

    const log = calls(fs.readFileSync(traceFile, 'latin1'));
    const mainTid = appPid;
    // The small request: every call that carries its bytes (the read of the request, the write of the answer) is
    // the JS thread's, and no other thread read or wrote anything of it.
    const smallIn = log.filter((c) => INPUT.has(c.name) && c.bytes.includes(SMALL_URI));
    const smallOut = log.filter((c) => OUTPUT.has(c.name) && c.bytes.includes(`answer ${SMALL_URI}`));
    expect(smallIn.length).toBeGreaterThan(0);
    expect(smallOut).toHaveLength(1);
    expect([...smallIn, ...smallOut].map((c) => c.tid)).toEqual([...smallIn, ...smallOut].map(() => mainTid));
    // Connections are accepted by the JS thread (so, as with Node's http, they wait in the backlog while it is busy).
    const accepts = log.filter((c) => c.name === 'accept' || c.name === 'accept4');
    expect(accepts.length).toBeGreaterThanOrEqual(3);
    expect(accepts.map((c) => c.tid)).toEqual(accepts.map(() => mainTid));
    // The big one: its tail is read by a worker (fcgi2 may wait for it there), never by the JS thread.
    const tailIn = log.filter((c) => INPUT.has(c.name) && c.bytes.includes(TAIL));
    expect(tailIn.length).toBeGreaterThan(0);
    for (const c of tailIn) expect(c.tid).not.toBe(mainTid);
    // The late end record arrives alone: the call that reads just those 8 bytes is a worker's.
    const lateEnd = log.filter((c) => INPUT.has(c.name) && c.bytes.equals(STDIN_END));
    expect(lateEnd.length).toBeGreaterThan(0);
    for (const c of lateEnd) expect(c.tid).not.toBe(mainTid);
    fs.rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  test('a 16 KiB POST sent at once is read with one call (the read buffer takes a request up to 64 KiB)', async () => {
    const dir = makeTempDir('fcgi-jspath-');
    const sock = path.join(dir, 'app.sock');
    const traceFile = path.join(dir, 'trace.txt');
    app = await startTracedApp(APP, [sock], traceFile, [...INPUT, ...OUTPUT], 400000);
    const { pid: appPid, exited } = app;
    const uri = '/echo-16k';
    const body = Buffer.concat([Buffer.alloc(16 * 1024 - TAIL.length, 0x64), Buffer.from(TAIL)]);
    expect(await exchange(sock, requestBytes(uri, body))).toContain(`answer ${uri} ${body.length} tail`);
    process.kill(appPid, 'SIGTERM');
    expect(await exited).toBe(0);

    const log = calls(fs.readFileSync(traceFile, 'latin1'));
    // The call that read the request's params read its whole body too (with a 16 KiB buffer it took two).
    const first = log.filter((c) => INPUT.has(c.name) && c.bytes.includes(uri));
    expect(first).toHaveLength(1);
    expect(first[0].tid).toBe(appPid);
    expect(first[0].bytes.includes(TAIL)).toBe(true);
    expect(first[0].bytes.includes(STDIN_END)).toBe(true);
    fs.rmSync(dir, { recursive: true, force: true });
  }, 60_000);
});
