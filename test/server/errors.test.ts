// Failing handlers answer 500 (or 413) and the server keeps serving; a client that goes away aborts its request only.
import path from 'path';
import { RecordType } from '../../lib/client/protocol';
import { fixture, startApp } from '../helpers/app-process';
import { describeWithBinaries } from '../helpers/binaries';
import { closeAfterAll, closeAfterEach } from '../helpers/cleanup';
import { tempDir } from '../helpers/tmp';
import { abortableRequest, events, fcgiExchange, MiB, request, startStack, waitForEvent, type Stack } from './harness';

/** A client goes away while the handler awaits 5 s: req.signal must abort promptly (FCGI_ABORTED). */
async function expectClientAbortSeen(stack: Stack): Promise<void> {
  const after = events(stack.app.process).length;
  const pending = abortableRequest(`${stack.url}/wait-abort?ms=5000`);
  await waitForEvent(stack.app.process, (e) => e.event === 'wait-start', { after });
  const t0 = performance.now();
  pending.abort();
  await pending.settled;

  // nginx (fastcgi_ignore_client_abort off, the default) closes the upstream connection when the client goes.
  const aborted = await waitForEvent(stack.app.process, (e) => e.event === 'aborted' || e.event === 'not-aborted', {
    after,
    timeoutMs: 8000,
  });
  const noticedMs = performance.now() - t0;
  console.log(`client gone -> req.signal aborted after ${noticedMs.toFixed(0)} ms (handler waited ${aborted.afterMs as number} ms)`);
  expect(aborted).toMatchObject({ event: 'aborted', aborted: true, code: 'FCGI_ABORTED', name: 'AbortError' });
  expect(noticedMs).toBeLessThan(2000);
  expect(aborted.afterMs).toBeLessThan(5000);
}

describeWithBinaries(['nginx'])('concurrent server: failing handlers and aborted requests, through nginx', () => {
  const track = closeAfterAll();
  let stack: Stack;

  beforeAll(async () => {
    stack = track(await startStack('server-app.ts', { env: { SERVER_CONCURRENCY: '8', SERVER_BODY_LIMIT: '1024' } }));
  });

  const expectNextRequestSucceeds = async () => {
    const next = await request(`${stack.url}/instant`);
    expect(next.status).toBe(200);
    expect(next.text).toBe('ok');
  };

  test.each([
    ['throws synchronously', '/throw', 'boom (sync)'],
    ['returns a rejected promise', '/reject', 'boom (async)'],
  ])(
    'a handler that %s answers 500, its error reaches the server "error" listener, and the next request succeeds',
    async (_what, route, message) => {
      const after = events(stack.app.process).length;
      const response = await request(`${stack.url}${route}`);
      expect(response.status).toBe(500);
      expect(response.text).toBe('Internal Server Error\n');
      // The event of this very error (an earlier test's may still be on its way).
      await expect(waitForEvent(stack.app.process, (e) => e.event === 'error' && e.message === message, { after })).resolves.toBeDefined();
      await expectNextRequestSucceeds();
    },
  );

  test("a failing handler's error goes to FCGI_STDERR: nginx logs it", async () => {
    await request(`${stack.url}/throw`);
    // nginx writes what the app sent on FCGI_STDERR to its error log, "FastCGI sent in stderr: ...".
    expect(stack.nginx.errorLog()).toMatch(/FastCGI sent in stderr: "libfcgi: handler failed: Error: boom \(sync\)/);
  });

  test('a handler that fails after part of its response went out (Content-Length 1000, 7 bytes sent): the HTTP client sees the response cut', async () => {
    const after = events(stack.app.process).length;
    await expect(request(`${stack.url}/throw-after-output?length=1`)).rejects.toThrow(/aborted|socket hang up|ECONNRESET/);
    await waitForEvent(stack.app.process, (e) => e.event === 'error' && e.message === 'boom (after output)', { after });
    await expectNextRequestSucceeds();
  });

  test('req.text() over bodyLimit answers 413, and the next request succeeds', async () => {
    const response = await request(`${stack.url}/text`, { method: 'POST', body: 'x'.repeat(2048) });
    expect(response.status).toBe(413);
    await expectNextRequestSucceeds();
    const within = await request(`${stack.url}/text`, { method: 'POST', body: 'x'.repeat(1024) });
    expect(within.status).toBe(200);
    expect(within.text).toBe('got 1024');
  });

  test('req.text() over bodyLimit with a 4 MiB body answers 413 every time (20 tries), never 502: the unread body is drained, not cut', async () => {
    const body = Buffer.alloc(4 * MiB, 'x');
    const statuses: number[] = [];
    for (let i = 0; i < 20; i++) statuses.push((await request(`${stack.url}/text`, { method: 'POST', body })).status);
    // A connection closed while nginx still sends the body fails nginx's write (EPIPE): it answers 502 instead.
    expect(statuses).toEqual(Array(20).fill(413));
  });

  test('a handler that answers without reading a 4 MiB request body gets its answer through every time (20 tries)', async () => {
    const body = Buffer.alloc(4 * MiB, 'x');
    const answers: string[] = [];
    for (let i = 0; i < 20; i++) {
      const r = await request(`${stack.url}/instant`, { method: 'POST', body });
      answers.push(`${r.status} ${r.status === 200 ? r.text : ''}`);
    }
    expect(answers).toEqual(Array(20).fill('200 ok'));
  });

  test('a client that disconnects while its handler awaits 5 s aborts req.signal promptly, and the next request succeeds', async () => {
    await expectClientAbortSeen(stack);
    await expectNextRequestSucceeds();
  });

  test('after all of the above the app process still runs and serves', async () => {
    await expectNextRequestSucceeds();
    expect(stack.app.process.exitStatus()).toBeUndefined();
    expect(stack.nginx.errorLog()).not.toMatch(/\[(crit|alert|emerg)\]/);
  });
});

describeWithBinaries(['nginx'])('concurrent server behind nginx keeping upstream connections (fastcgi_keep_conn on)', () => {
  const track = closeAfterAll();
  let stack: Stack;

  beforeAll(async () => {
    stack = track(await startStack('server-app.ts', { env: { SERVER_CONCURRENCY: '8' }, nginx: { keepConn: true } }));
  });

  test('a client that disconnects mid-request aborts req.signal promptly, three times in a row, and kept connections keep serving', async () => {
    for (let i = 0; i < 3; i++) {
      expect((await request(`${stack.url}/instant`)).text).toBe('ok');
      await expectClientAbortSeen(stack);
    }
    expect((await request(`${stack.url}/instant`)).text).toBe('ok');
  });

  test('a handler that fails after part of a chunked response went out: the HTTP client sees the response cut, not a complete 200', async () => {
    // With kept connections nginx needs END_REQUEST to end a response: a connection closed without it is an error it
    // passes on to the client. (With keep_conn off nginx takes the close as the end, so only this setup can show it.)
    await expect(request(`${stack.url}/throw-after-output`)).rejects.toThrow(/aborted|socket hang up|ECONNRESET/);
    expect((await request(`${stack.url}/instant`)).text).toBe('ok');
  });

  test('a throwing handler answers 500 and the kept connection serves the next request', async () => {
    expect((await request(`${stack.url}/throw`)).status).toBe(500);
    expect((await request(`${stack.url}/reject`)).status).toBe(500);
    expect((await request(`${stack.url}/instant`)).text).toBe('ok');
  });
});

describe('concurrent server: a response that cannot be completed, on the FastCGI connection itself', () => {
  const track = closeAfterEach();

  test('a handler that fails after part of its response went out: the app sends that part, then closes without END_REQUEST', async () => {
    const dir = track(tempDir('fcgi-srv-'));
    const socketPath = path.join(dir.path, 'app.sock');
    track(await startApp(fixture('server-app.ts'), { listen: { path: socketPath } }));
    const records = await fcgiExchange(socketPath, '/throw-after-output');
    const stdout = Buffer.concat(records.filter((r) => r.type === RecordType.STDOUT).map((r) => r.content)).toString();
    expect(stdout).toMatch(/\r\n\r\npartial$/);
    // END_REQUEST would tell the web server the response is complete: a truncated body must not carry one.
    expect(records.map((r) => r.type)).not.toContain(RecordType.END_REQUEST);
  });

  test('for comparison, a handler that succeeds: STDOUT, the empty STDOUT record, then END_REQUEST', async () => {
    const dir = track(tempDir('fcgi-srv-'));
    const socketPath = path.join(dir.path, 'app.sock');
    track(await startApp(fixture('server-app.ts'), { listen: { path: socketPath } }));
    const records = await fcgiExchange(socketPath, '/instant');
    expect(records.at(-1)?.type).toBe(RecordType.END_REQUEST);
    expect(Buffer.concat(records.filter((r) => r.type === RecordType.STDOUT).map((r) => r.content)).toString()).toMatch(/\r\n\r\nok$/);
  });
});
