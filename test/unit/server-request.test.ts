// ServerRequest and Server against a fake native side, in-process (issue 14's test seam): what commands leave
// for the native threads (buffering, drain, abort, failure after partial output) and that events and commands
// for a request that already ended never reach the next request of the same slot.
import { FakeNative, outputText, requestId } from '../helpers/fake-native';
import type { ServerRequest } from '../../lib/server';
import type { FastCGIRequest } from '../../lib/request-api';
import { fromNodeListener } from '../../lib/adapters/node-http';

const params = { REQUEST_METHOD: 'GET', REQUEST_URI: '/x', QUERY_STRING: 'a=1' };
const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** A promise a test settles itself, to hold a handler in its await. */
function gate(): { promise: Promise<void>; open(): void; fail(err: Error): void } {
  let open!: () => void;
  let fail!: (err: Error) => void;
  const promise = new Promise<void>((resolve, reject) => {
    open = resolve;
    fail = reject;
  });
  return { promise, open, fail };
}

async function listening(fake: FakeNative, handler: (req: ServerRequest) => unknown, options = {}) {
  const server = fake.server(handler, options);
  await server.listen({ path: '/unused/by/the/fake.sock' });
  return server;
}

describe('ServerRequest over a fake native side', () => {
  test('a handler that prints and returns: head and body leave with END_REQUEST in one end command, no write', async () => {
    const fake = new FakeNative();
    await listening(fake, (req) => {
      req.status(404).header({ 'Content-Type': 'text/plain' });
      req.print('not ');
      req.print('here');
    });
    fake.request(0, 0, params);
    const cmds = fake.commandsFor(requestId(0, 0));
    expect(cmds.map((c) => c.op)).toEqual(['end']);
    const end = cmds[0] as Extract<(typeof cmds)[number], { op: 'end' }>;
    expect(end.cut).toBe(false);
    expect(outputText(end.data)).toBe('Status: 404 Not Found\r\nContent-Type: text/plain\r\n\r\nnot here');
  });

  test('empty output is not handed over: print("") and an empty Buffer add no piece to the end command', async () => {
    const fake = new FakeNative();
    await listening(fake, (req) => {
      req.print('Content-Type: text/plain\r\n\r\nhi');
      req.print('');
      req.print(Buffer.alloc(0));
    });
    fake.request(0, 0, params);
    const end = fake.commandsFor(requestId(0, 0)).find((c) => c.op === 'end');
    // One string, not a list with empty pieces (each piece costs the native side a look; an empty Buffer
    // made V8 move its memory off the heap to be read).
    expect(end && 'data' in end ? end.data : undefined).toBe('Content-Type: text/plain\r\n\r\nhi');
  });

  test("a Node listener's writeHead + end(body): the native side gets one string, head and body", async () => {
    const fake = new FakeNative();
    await listening(
      fake,
      fromNodeListener((_req, res) => {
        res.writeHead(200, { 'Content-Type': 'text/plain' });
        res.end('Hello, world!');
      }),
    );
    fake.request(0, 0, params);
    await turn();
    const end = fake.commandsFor(requestId(0, 0)).find((c) => c.op === 'end');
    const data = end && 'data' in end ? end.data : undefined;
    expect(typeof data).toBe('string');
    expect(data).toBe('Status: 200 OK\r\nContent-Type: text/plain\r\n\r\nHello, world!');
  });

  test('status(201, "Created"), statusCode and headersSent as the handler sees them', async () => {
    const fake = new FakeNative();
    const seen: unknown[] = [];
    await listening(fake, (req) => {
      seen.push(req.statusCode, req.headersSent);
      req.status(201, 'Created');
      seen.push(req.statusCode, req.headersSent);
      req.print('made');
      seen.push(req.headersSent);
    });
    fake.request(0, 0, params);
    expect(seen).toEqual([200, false, 201, false, true]);
    const end = fake.commandsFor(requestId(0, 0)).find((c) => c.op === 'end');
    expect(outputText(end && 'data' in end ? end.data : undefined)).toMatch(/^Status: 201 Created\r\n\r\nmade$/);
  });

  test('output printed before an await leaves after the turn (write + flush), before the handler ends', async () => {
    const fake = new FakeNative();
    const g = gate();
    await listening(fake, async (req) => {
      req.print('first');
      await g.promise;
      req.print('second');
    });
    fake.request(0, 0, params);
    const id = requestId(0, 0);
    expect(fake.commandsFor(id)).toEqual([]); // nothing yet: the handler's turn is still running
    await turn();
    expect(fake.commandsFor(id).map((c) => c.op)).toEqual(['watchPeer', 'write', 'flush']);
    expect(outputText((fake.commandsFor(id)[1] as { data: string }).data)).toBe('first');
    g.open();
    await turn();
    const last = fake.commandsFor(id).at(-1);
    expect(last).toMatchObject({ op: 'end', cut: false });
    expect(outputText((last as { data: string }).data)).toBe('second');
  });

  test('over highWaterMark: print() still accepts (true), writableNeedDrain turns true, drain() waits for Written', async () => {
    const fake = new FakeNative();
    const g = gate();
    const seen: unknown[] = [];
    let drained = false;
    await listening(
      fake,
      async (req) => {
        await turn();
        seen.push(req.print('x'.repeat(32)), req.writableNeedDrain);
        void req.drain().then(() => (drained = true));
        await g.promise;
        seen.push(req.writableNeedDrain);
      },
      { highWaterMark: 8 },
    );
    fake.request(0, 0, params);
    await turn();
    await turn();
    expect(seen).toEqual([true, true]);
    const write = fake.commandsFor(requestId(0, 0)).find((c) => c.op === 'write');
    expect(write).toMatchObject({ notify: true }); // drain() asks the worker to report when it is out
    await turn();
    expect(drained).toBe(false);
    fake.written(0, 0, 16); // half of it out: still over the mark
    await turn();
    expect(drained).toBe(false);
    fake.written(0, 0, 32);
    await turn();
    expect(drained).toBe(true);
    g.open();
    await turn();
    expect(seen).toEqual([true, true, false]);
  });

  test('an abort: signal fires, output is dropped (print/error/flush false), the request ends with a cut', async () => {
    const fake = new FakeNative();
    const g = gate();
    const seen: unknown[] = [];
    await listening(fake, async (req) => {
      await g.promise;
      seen.push(req.aborted, req.signal.aborted, req.print('lost'), req.error('lost'), req.flush(), req.writableNeedDrain);
    });
    fake.request(0, 0, params);
    await turn();
    fake.aborted(0, 0);
    g.open();
    await turn();
    expect(seen).toEqual([true, true, false, false, false, false]);
    const cmds = fake.commandsFor(requestId(0, 0));
    expect(cmds.filter((c) => c.op === 'write' || c.op === 'writeError')).toEqual([]);
    expect(cmds.at(-1)).toMatchObject({ op: 'end', data: undefined, cut: true });
  });

  test('a handler that fails before any output: 500 in the end command, the stack to FCGI_STDERR', async () => {
    const fake = new FakeNative();
    const server = await listening(fake, () => {
      throw new Error('boom');
    });
    const errors: unknown[] = [];
    server.on('error', (err) => errors.push(err));
    fake.request(0, 0, params);
    const cmds = fake.commandsFor(requestId(0, 0));
    expect(cmds.map((c) => c.op)).toEqual(['writeError', 'end']);
    expect(outputText((cmds[0] as { data: string }).data)).toMatch(/handler failed: Error: boom/);
    expect(cmds[1]).toMatchObject({ cut: false });
    expect(outputText((cmds[1] as { data: string }).data)).toMatch(/^Status: 500 Internal Server Error\r\n/);
    expect(errors).toHaveLength(1);
  });

  test('a handler that fails after part of the response went out: the request ends with a cut, not a 500', async () => {
    const fake = new FakeNative();
    const server = await listening(fake, async (req) => {
      req.print('partial');
      await turn();
      await turn();
      throw new Error('late boom');
    });
    server.on('error', () => undefined);
    fake.request(0, 0, params);
    for (let i = 0; i < 4; i++) await turn();
    const cmds = fake.commandsFor(requestId(0, 0));
    expect(cmds.map((c) => c.op)).toEqual(['watchPeer', 'write', 'flush', 'writeError', 'end']);
    expect(cmds.at(-1)).toMatchObject({ op: 'end', data: undefined, cut: true });
  });

  test("stale generation: events for the slot's previous request are dropped, its late output sends no command", async () => {
    const fake = new FakeNative();
    const reqs: ServerRequest[] = [];
    const bodies: string[] = [];
    await listening(fake, async (req) => {
      reqs.push(req);
      if (reqs.length === 1) return; // the first request ends at once
      let body = '';
      for await (const chunk of req.body) body += String(chunk);
      bodies.push(body);
    });
    fake.request(0, 0, params);
    await turn();
    expect(reqs[0].finished).toBe(true);
    fake.request(0, 1, { ...params, CONTENT_LENGTH: '5' }); // the same slot, its next request
    await turn();
    expect(fake.commandsFor(requestId(0, 1))).toContainEqual(expect.objectContaining({ op: 'read' }));
    const before = fake.commandsFor(requestId(0, 0)).length;
    const warnings: Error[] = [];
    const onWarning = (w: Error): void => void warnings.push(w);
    process.on('warning', onWarning);
    try {
      expect(reqs[0].print('late')).toBe(false);
      expect(reqs[0].flush()).toBe(false);
    } finally {
      process.removeListener('warning', onWarning);
    }
    expect(warnings.map((w) => (w as Error & { code?: string }).code)).toEqual(['FCGI_REQUEST_FINISHED']);
    expect(fake.commandsFor(requestId(0, 0))).toHaveLength(before);
    fake.data(0, 0, Buffer.from('stale'), true); // for generation 0: dropped
    fake.aborted(0, 0);
    expect(reqs[1].aborted).toBe(false);
    fake.data(0, 1, Buffer.from('fresh'), true);
    for (let i = 0; i < 3; i++) await turn();
    expect(bodies).toEqual(['fresh']);
    expect(fake.commandsFor(requestId(0, 1)).at(-1)).toMatchObject({ op: 'end', cut: false });
  });

  test('one vocabulary: code written against FastCGIRequest runs on a ServerRequest; its params outlive finish()', async () => {
    const fake = new FakeNative();
    // The same function serves the accept loop's Request (test/lifecycle/app-mistakes.test.ts runs the loop).
    const answer = (req: FastCGIRequest): boolean[] => {
      req.status(418).header({ 'X-Query': req.query.get('a') ?? '' });
      const printed = req.print(`uri ${req.param('REQUEST_URI')}`);
      req.finish();
      return [printed, req.finished, req.print('late'), req.error('late'), req.flush()];
    };
    const seen: unknown[] = [];
    const warnings: Error[] = [];
    const onWarning = (w: Error): void => void warnings.push(w);
    process.on('warning', onWarning);
    try {
      await listening(fake, (req) => {
        seen.push(...answer(req), req.env.REQUEST_URI, req.param('QUERY_STRING'));
      });
      fake.request(0, 0, params);
    } finally {
      process.removeListener('warning', onWarning);
    }
    expect(seen).toEqual([true, true, false, false, false, '/x', 'a=1']);
    expect(warnings).toHaveLength(1); // one warning per request, naming it
    expect(warnings[0].message).toMatch(/print\(\) on a finished request \(\/x\)/);
    const end = fake.commandsFor(requestId(0, 0)).find((c) => c.op === 'end');
    expect(outputText((end as { data: string }).data)).toBe("Status: 418 I'm a Teapot\r\nX-Query: 1\r\n\r\nuri /x");
  });

  test('listen() on a server that already listens rejects with FCGI_CLOSED and leaves the first listen as it was', async () => {
    const fake = new FakeNative();
    const server = await listening(fake, () => undefined);
    await expect(server.listen({ path: '/another.sock' })).rejects.toMatchObject({ code: 'FCGI_CLOSED', message: /already listening/ });
    expect(fake.commands.filter((c) => c.op === 'start')).toHaveLength(1);
    expect(server.address()).toEqual({ family: 'unix', path: '/fake.sock' });
  });

  test('close(): stops accepting, and resolves with "close" once every worker exited (then joins)', async () => {
    const fake = new FakeNative();
    const server = await listening(fake, () => undefined, { concurrency: 2 });
    let closed = false;
    const done = server.close().then(() => (closed = true));
    expect(fake.commands.map((c) => c.op)).toContain('stopAccepting');
    fake.workerExit();
    await turn();
    expect(closed).toBe(false);
    fake.workerExit();
    await done;
    expect(fake.commands.at(-1)).toEqual({ op: 'join' });
  });
});
