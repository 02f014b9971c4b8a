// "A handler that prints and returns sends its whole response with FCGI_END_REQUEST in one write" (README,
// The concurrent server), shown at the system-call level: the app runs under strace, and the one syscall that
// carries the body also carries END_REQUEST. (A client's first read cannot show it: the socket buffer joins
// separate writes that follow each other closely.)
import fs from 'fs';
import net from 'net';
import path from 'path';
import { describeWithBinaries } from '../helpers/binaries';
import { startTracedApp, type TracedApp } from '../helpers/traced-app';
import { makeTempDir } from '../helpers/tmp';
import { fcgiRequestBytes } from './harness';

const root = path.join(__dirname, '..', '..');
const BODY = 'one write, body and end';
// FCGI_END_REQUEST's header for request id 1: version 1, type 3, id 1, content length 8, no padding.
const END_REQUEST_HEADER = Buffer.from([1, 3, 0, 1, 0, 8, 0, 0]);

const APP = `
const { createServer } = require(${JSON.stringify(path.join(root, 'dist'))});
const server = createServer((req) => {
  req.status(404).header({ 'Content-Type': 'text/plain' });
  req.print(${JSON.stringify(BODY)});
});
server.listen({ path: process.argv[1] }).then(() => process.stdout.write(\`listening \${process.pid}\\n\`));
`;

/** The bytes of every output syscall strace logged (strace -xx prints each byte as \\xHH). */
function outputSyscalls(trace: string): Buffer[] {
  return trace
    .split('\n')
    .filter((line) => /\b(write|writev|sendmsg|sendto)\(/.test(line))
    .map((line) => Buffer.from((line.match(/\\x[0-9a-f]{2}/g) ?? []).map((h) => parseInt(h.slice(2), 16))));
}

describeWithBinaries(['strace'])('createServer: print-and-return is one write (under strace)', () => {
  let app: TracedApp | undefined;
  afterEach(() => app?.kill());

  test('the syscall that carries the body carries END_REQUEST too; no other syscall carries either', async () => {
    const dir = makeTempDir('fcgi-onewrite-');
    const sock = path.join(dir, 'app.sock');
    const traceFile = path.join(dir, 'trace.txt');
    app = await startTracedApp(APP, [sock], traceFile, ['write', 'writev', 'sendmsg', 'sendto']);
    const { pid: appPid, exited } = app;

    const received = await new Promise<Buffer>((resolve, reject) => {
      const chunks: Buffer[] = [];
      const socket = net.connect(sock);
      socket.setTimeout(20_000, () => socket.destroy(new Error('no answer from the app in 20 s')));
      socket.on('data', (chunk: Buffer) => chunks.push(chunk));
      socket.on('error', reject);
      socket.on('close', () => resolve(Buffer.concat(chunks)));
      socket.write(fcgiRequestBytes('/x'));
    });
    expect(received.includes(BODY)).toBe(true);
    // SIGTERM to the app itself (strace would detach on it): the server closes, the app exits, then strace
    // exits with the app's status and its log is complete.
    process.kill(appPid, 'SIGTERM');
    expect(await exited).toBe(0);

    const calls = outputSyscalls(fs.readFileSync(traceFile, 'latin1'));
    const withBody = calls.filter((c) => c.includes(BODY));
    const withEnd = calls.filter((c) => c.includes(END_REQUEST_HEADER));
    expect(withBody).toHaveLength(1);
    expect(withEnd).toHaveLength(1);
    expect(withBody[0]).toBe(withEnd[0]);
    expect(withBody[0].toString('latin1')).toMatch(/Status: 404 Not Found\r\n/);
    fs.rmSync(dir, { recursive: true, force: true });
  }, 60_000);
});
