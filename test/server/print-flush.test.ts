// Output printed before an await reaches the HTTP client at the end of that JS turn (as Node's res.write() does),
// not at the handler's end (issue 11): timed at the client through nginx with fastcgi_buffering off and through
// `libfcgi serve`.
import http from 'http';
import { describeWithBinaries } from '../helpers/binaries';
import { closeAfterAll } from '../helpers/cleanup';
import { startServe } from '../cli/cli';
import { fixture } from '../helpers/app-process';
import { startStack } from './harness';

const PAUSE_MS = 1500;
/** The first chunk must arrive this much before the second (the pause is 1500 ms; arrival takes a few ms). */
const MIN_GAP_MS = 1000;

interface Arrival {
  status: number;
  body: string;
  /** ms from the request's start to the arrival of each chunk of the body */
  chunks: Array<{ ms: number; text: string }>;
}

/** GETs `url`, noting when each body chunk arrives. */
function timedGet(url: string): Promise<Arrival> {
  return new Promise((resolve, reject) => {
    const start = Date.now();
    const req = http.get(url, { agent: false }, (res) => {
      const chunks: Arrival['chunks'] = [];
      res.setEncoding('utf8');
      res.on('data', (text: string) => chunks.push({ ms: Date.now() - start, text }));
      res.on('error', reject);
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: chunks.map((c) => c.text).join(''), chunks }));
    });
    req.setTimeout(20000, () => req.destroy(new Error(`${url}: no response within 20 s`)));
    req.on('error', reject);
  });
}

/** When the chunk that completes `marker` arrived. */
function arrivalOf(a: Arrival, marker: string): number {
  let text = '';
  for (const c of a.chunks) {
    text += c.text;
    if (text.includes(marker)) return c.ms;
  }
  throw new Error(`"${marker.trim()}" never arrived: ${JSON.stringify(a.body.slice(-100))}`);
}

function expectFirstEarly(a: Arrival): void {
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

  beforeAll(async () => {
    const stack = track(await startStack('server-flush.ts', { nginx: { extraLocationConf: 'fastcgi_buffering off;' } }));
    url = stack.url;
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
