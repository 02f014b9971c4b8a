// Output printed before an await reaches the HTTP client at the end of that JS turn (as Node's res.write() does),
// not at the handler's end (issue 11): timed at the client through nginx with fastcgi_buffering off and through
// `libfcgi serve`.
import { describeWithBinaries } from '../helpers/binaries';
import { closeAfterAll } from '../helpers/cleanup';
import { startServe } from '../cli/cli';
import { fixture } from '../helpers/app-process';
import net from 'net';
import { RecordDecoder } from '../../lib/client/record-decoder';
import { RecordType, type FastCGIRecord } from '../../lib/client/protocol';
import { fcgiRequestBytes, startStack } from './harness';
import { arrivalOf, timedGet, type TimedResponse } from '../helpers/timed-get';

const PAUSE_MS = 1500;
/** The first chunk must arrive this much before the second (the pause is 1500 ms; arrival takes a few ms). */
const MIN_GAP_MS = 1000;

function expectFirstEarly(a: TimedResponse): void {
  expect(a.status).toBe(200);
  expect(a.body.endsWith('first\nsecond\n')).toBe(true);
  const first = arrivalOf(a, 'first\n');
  const second = arrivalOf(a, 'second\n');
  expect(second).toBeGreaterThanOrEqual(PAUSE_MS - 50);
  expect(second - first).toBeGreaterThanOrEqual(MIN_GAP_MS);
}

describeWithBinaries(['nginx'])('createServer output before an await, through nginx (fastcgi_buffering off)', () => {
  const track = closeAfterAll();
  let url: string;
  let socketPath: string;

  beforeAll(async () => {
    const stack = track(await startStack('server-flush.ts', { nginx: { extraLocationConf: 'fastcgi_buffering off;' } }));
    url = stack.url;
    socketPath = stack.socketPath;
  });

  /** The records of one request straight to the app, grouped by the socket read that brought them. */
  function recordsPerRead(uri: string, query = ''): Promise<FastCGIRecord[][]> {
    return new Promise((resolve, reject) => {
      const decoder = new RecordDecoder();
      const reads: FastCGIRecord[][] = [];
      const socket = net.connect(socketPath);
      socket.on('data', (chunk: Buffer) => reads.push(decoder.push(chunk)));
      socket.on('error', reject);
      socket.on('close', () => resolve(reads));
      socket.write(fcgiRequestBytes(uri, query));
    });
  }

  test('a handler that prints and returns: its output and END_REQUEST arrive in one read', async () => {
    const reads = await recordsPerRead('/sync');
    expect(reads.length).toBe(1);
    expect(reads[0].map((r) => r.type)).toContain(RecordType.END_REQUEST);
  });

  test('prints in one JS turn after an await leave together, in one FCGI_STDOUT record', async () => {
    const reads = await recordsPerRead('/turn', 'ms=300');
    const stdout = reads.flat().filter((r) => r.type === RecordType.STDOUT && r.content.length > 0);
    expect(stdout.map((r) => r.content.toString()).join('')).toMatch(/\r\n\r\nab$/);
    expect(stdout[stdout.length - 1].content.toString()).toMatch(/ab$/);
  });

  test.each(['print', 'stdout', 'large'])('/%s: "first" arrives well before "second", printed after a 1.5 s await', async (route) => {
    expectFirstEarly(await timedGet(`${url}/${route}?ms=${PAUSE_MS}`));
  });

  test('a handler that prints and returns still answers whole', async () => {
    const a = await timedGet(`${url}/sync`);
    expect(a.status).toBe(200);
    expect(a.body).toBe('first\nsecond\n');
  });
});

describe('createServer output before an await, through libfcgi serve', () => {
  const track = closeAfterAll();
  let url: string;

  beforeAll(async () => {
    url = track(await startServe(['-q', fixture('server-flush.ts')])).url;
  });

  test.each(['print', 'stdout'])('/%s: "first" arrives well before "second"', async (route) => {
    expectFirstEarly(await timedGet(`${url}/${route}?ms=${PAUSE_MS}`));
  });
});
