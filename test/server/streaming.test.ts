// Request bodies and responses stream with backpressure: 100 MiB pass through without sitting in the app's memory.
import { describeWithBinaries } from '../helpers/binaries';
import { closeAfterAll } from '../helpers/cleanup';
import { dataStream } from '../fixtures/server-data';
import { events, MiB, request, requestHashed, sha256Of, startStack, waitForEvent, type Stack } from './harness';

const SIZE = 100 * MiB;
// Far below the 100 MiB that went through. An upload arrives as 64 KiB Buffers that wait for the GC, so it may leave
// some tens of MiB of garbage; output is bounded by highWaterMark (1 MiB) plus stream buffers.
const UPLOAD_RSS_GROWTH_LIMIT = 50 * MiB;
const RESPONSE_RSS_GROWTH_LIMIT = 32 * MiB;
const mib = (bytes: number) => `${(bytes / MiB).toFixed(1)} MiB`;

describeWithBinaries(['nginx'])('concurrent server streaming through nginx', () => {
  const track = closeAfterAll();
  let stack: Stack;
  let expectedSha: string;

  beforeAll(async () => {
    stack = track(await startStack('server-app.ts', { env: { SERVER_CONCURRENCY: '4' } }));
    expectedSha = await sha256Of(dataStream(SIZE));
    // Warm-up: a fresh process's heap grows to its working size on the first large transfer whatever its size;
    // the tests measure what a transfer adds after that.
    const warmUp = 16 * MiB;
    await request(`${stack.url}/upload`, { method: 'POST', body: dataStream(warmUp), headers: { 'Content-Length': String(warmUp) } });
    for (const mode of ['pipeline', 'print']) await requestHashed(`${stack.url}/download?mib=16&mode=${mode}`);
  });

  test('a 100 MiB upload read chunk by chunk from req.body arrives intact (sha256) and grows the app RSS by under 50 MiB', async () => {
    const response = await request(`${stack.url}/upload`, {
      method: 'POST',
      body: dataStream(SIZE),
      headers: { 'Content-Length': String(SIZE), 'Content-Type': 'application/octet-stream' },
      timeoutMs: 60000,
    });
    expect(response.status).toBe(200);
    const result = JSON.parse(response.text) as { bytes: number; sha256: string; rssBefore: number; rssPeak: number };
    console.log(`100 MiB upload: app RSS ${mib(result.rssBefore)} before, ${mib(result.rssPeak)} at the peak`);
    expect(result.bytes).toBe(SIZE);
    expect(result.sha256).toBe(expectedSha);
    expect(result.rssPeak - result.rssBefore).toBeLessThan(UPLOAD_RSS_GROWTH_LIMIT);
  });

  test.each(['pipeline', 'print'])(
    'a 100 MiB response written with %s arrives intact through nginx (sha256) and grows the app RSS by under 32 MiB',
    async (mode) => {
      const after = events(stack.app.process).length;
      const response = await requestHashed(`${stack.url}/download?mib=100&mode=${mode}`, { timeoutMs: 60000 });
      expect(response.status).toBe(200);
      expect(response.bytes).toBe(SIZE);
      expect(response.sha256).toBe(expectedSha);

      const done = await waitForEvent(stack.app.process, (e) => e.event === 'download', { after });
      const { rssBefore, rssPeak } = done as unknown as { rssBefore: number; rssPeak: number };
      console.log(`100 MiB response (${mode}): app RSS ${mib(rssBefore)} before, ${mib(rssPeak)} at the peak`);
      expect(done).toMatchObject({ mode, bytes: SIZE });
      expect(rssPeak - rssBefore).toBeLessThan(RESPONSE_RSS_GROWTH_LIMIT);
    },
  );
});
