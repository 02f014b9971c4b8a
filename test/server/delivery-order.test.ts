// "Each connection's request runs to its first wait, with its microtasks and nextTicks, before the next one is
// read" (native/js_poll.cc, ARCHITECTURE.md "A request's path"): when several requests are waiting at once, the
// first one's response leaves before the second one's handler starts, as Node's http runs one socket's read at a
// time. Held back until the whole batch had run, the first answer waited for every other handler, and the web
// server and its clients sat idle meanwhile (Express over fromNodeListener: 0.90 -> 1.26x Node http, bench/README.md).
import { spawn, type ChildProcess } from 'child_process';
import fs from 'fs';
import net from 'net';
import path from 'path';
import { encodeBeginRequest, encodeParams, encodeRecord, RecordType, Role } from '../../lib/client/protocol';
import { RecordDecoder } from '../../lib/client/record-decoder';
import { makeTempDir } from '../helpers/tmp';

const DIST = path.join(__dirname, '..', '..', 'dist');

// /block keeps the JS thread busy (synchronously) until the test has sent /a and /b, so both wait in the listener at
// once; each of them reports, when its handler starts, whether the other one's response had already gone out.
const APP = `
const fs = require('fs');
const { createServer } = require(${JSON.stringify(DIST)});
const [sock, flag] = process.argv.slice(1);
const live = [];
createServer(async (req) => {
  const uri = req.param('REQUEST_URI');
  if (uri === '/block') {
    process.stdout.write('blocking\\n');
    while (!fs.existsSync(flag)) {} // the test writes the flag once /a and /b are both sent
    req.header({ 'Content-Type': 'text/plain' });
    req.print('unblocked');
    return;
  }
  const others = live.filter((r) => r !== req).map((r) => ({ uri: r.param('REQUEST_URI'), finished: r.finished }));
  live.push(req);
  await null; // the handler's first wait: what follows runs in a microtask
  req.header({ 'Content-Type': 'application/json' });
  req.print(JSON.stringify({ uri, others }));
}).listen({ path: sock }).then(() => process.stdout.write('listening\\n'));
`;

function requestBytes(uri: string): Buffer {
  return Buffer.concat([
    encodeRecord(RecordType.BEGIN_REQUEST, 1, encodeBeginRequest(Role.RESPONDER, false)),
    encodeRecord(RecordType.PARAMS, 1, encodeParams({ REQUEST_METHOD: 'GET', REQUEST_URI: uri })),
    encodeRecord(RecordType.PARAMS, 1, Buffer.alloc(0)),
    encodeRecord(RecordType.STDIN, 1, Buffer.alloc(0)),
  ]);
}

/** Sends one request; `sent` resolves once its bytes are with the kernel, `body` with the response's body. */
function send(sock: string, uri: string): { sent: Promise<void>; body: Promise<string> } {
  const socket = net.connect(sock);
  const decoder = new RecordDecoder();
  let out = '';
  const body = new Promise<string>((resolve, reject) => {
    socket.setTimeout(20_000, () => socket.destroy(new Error(`no answer to ${uri} in 20 s`)));
    socket.on('data', (chunk: Buffer) => {
      for (const r of decoder.push(chunk)) {
        if (r.type === RecordType.STDOUT) out += r.content.toString();
        if (r.type === RecordType.END_REQUEST) resolve(out.split('\r\n\r\n').slice(1).join('\r\n\r\n'));
      }
    });
    socket.on('error', reject);
  });
  const sent = new Promise<void>((resolve, reject) => socket.write(requestBytes(uri), (err) => (err ? reject(err) : resolve())));
  void body.finally(() => socket.destroy());
  return { sent, body };
}

function waitForLine(child: ChildProcess, line: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let text = '';
    const onData = (chunk: Buffer) => {
      text += chunk.toString();
      if (text.split('\n').includes(line)) {
        child.stdout?.off('data', onData);
        resolve();
      }
    };
    child.stdout?.on('data', onData);
    child.once('exit', (code) => reject(new Error(`the app exited (${code}) before printing "${line}"`)));
  });
}

describe('createServer: requests waiting at once', () => {
  let child: ChildProcess | undefined;
  afterEach(() => child?.kill('SIGKILL'));

  test("the first one's response leaves before the next one's handler starts", async () => {
    const dir = makeTempDir('fcgi-order-');
    const sock = path.join(dir, 'app.sock');
    const flag = path.join(dir, 'go');
    child = spawn(process.execPath, ['-e', APP, sock, flag], { stdio: ['ignore', 'pipe', 'inherit'] });
    await waitForLine(child, 'listening');

    const blocker = send(sock, '/block');
    await waitForLine(child, 'blocking');
    const a = send(sock, '/a');
    const b = send(sock, '/b');
    await Promise.all([a.sent, b.sent]);
    fs.writeFileSync(flag, '');

    expect(await blocker.body).toBe('unblocked');
    const answers = [JSON.parse(await a.body), JSON.parse(await b.body)] as { uri: string; others: { uri: string; finished: boolean }[] }[];
    // Whichever started second saw the first one already answered; the first saw nobody.
    const first = answers.find((x) => x.others.length === 0);
    const second = answers.find((x) => x.others.length === 1);
    expect(first).toBeDefined();
    expect(second?.others).toEqual([{ uri: first?.uri, finished: true }]);
  });
});
