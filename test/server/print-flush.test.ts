// Output printed before an await reaches the HTTP client at the end of that JS turn (as Node's res.write() does),
// not at the handler's end (issue 11): timed at the client through nginx with fastcgi_buffering off and through
// `libfcgi serve`.
import { describeWithBinaries } from '../helpers/binaries';
import { closeAfterAll } from '../helpers/cleanup';
import { startServe } from '../cli/cli';
import { fixture } from '../helpers/app-process';
import { startStack } from './harness';
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
