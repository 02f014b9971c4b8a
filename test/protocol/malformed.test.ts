// Issue 5's defect classes, one or more byte-level cases each, every case against a fresh app process: afterwards
// the process is alive and answers a normal request exactly, and the app saw exactly what it should (or nothing).
import crypto from 'crypto';
import { buildInfo } from '../../lib/build-info';
import { decodeParams, encodeParams } from '../../lib/client';
import { closeAfterEach } from '../helpers/cleanup';
import { rssBytes } from '../helpers/process';
import {
  ProtocolStatus,
  RawConnection,
  RecordType,
  answers,
  ask,
  begin,
  describeRecords,
  expectServesNormally,
  expectedEnv,
  length4,
  record,
  requestBytes,
  sleep,
  startProtocolApp,
  stream,
  type AppOptions,
  type ProtocolApp,
} from './harness';

jest.setTimeout(60000);

const track = closeAfterEach();
const fresh = async (options?: AppOptions): Promise<ProtocolApp> => track(await startProtocolApp(options));

const PARAMS = { REQUEST_METHOD: 'POST', SCRIPT_NAME: '/app', HTTP_HOST: 'example.test' };
const params = (id: number, pairs: Parameters<typeof encodeParams>[0], options: { padding?: number; end?: boolean } = {}) =>
  stream(RecordType.PARAMS, id, encodeParams(pairs), options);
const stdin = (id: number, body: string | Buffer, options: { padding?: number; end?: boolean } = {}) =>
  stream(RecordType.STDIN, id, Buffer.from(body), options);
const header = (type: number, id: number, contentLength: number, paddingLength = 0, version = 1) =>
  Buffer.from([version, type, id >> 8, id & 0xff, contentLength >> 8, contentLength & 0xff, paddingLength, 0]);

/** Sends `bytes` on a new connection (then half-closes if asked) and waits until the app closes it. */
async function sendAndWaitClose(app: ProtocolApp, bytes: Buffer, halfClose = false): Promise<RawConnection> {
  const conn = await RawConnection.connect(app.path);
  await conn.write(bytes);
  if (halfClose) conn.end();
  const closed = await conn.waitForClose(5000);
  conn.destroy();
  if (!closed) throw new Error(`the app did not close the connection: ${describeRecords(conn)}`);
  return conn;
}

/** The app never saw a request: the next normal one is its first. */
async function expectNothingReachedTheApp(app: ProtocolApp): Promise<void> {
  const answer = await expectServesNormally(app);
  expect(answer.n).toBe(1);
}

/** The request gate (issue 15) reads management records and requests before fcgi2; off with a system libfcgi. */
const GATE = buildInfo.features.includes('preread');

describe('1. length arithmetic and limits on params', () => {
  test.each([
    ['0x7ffffffe + 0x7ffffffe (the CVE-2025-23016 pattern)', 0x7ffffffe, 0x7ffffffe],
    ['0x40000000 + 0x3fffffff (sum just below 2^31)', 0x40000000, 0x3fffffff],
    ['0x7fffffff + 1', 0x7fffffff, 1],
  ])('name and value lengths %s: refused without a crash', async (_name, nameLen, valueLen) => {
    const app = await fresh();
    const pair = Buffer.concat([length4(nameLen), length4(valueLen), Buffer.alloc(64, 0x41)]);
    const conn = await sendAndWaitClose(app, Buffer.concat([begin(1), record(RecordType.PARAMS, 1, pair)]));
    expect(conn.records).toHaveLength(0);
    await expectNothingReachedTheApp(app);
  });

  test('a single pair claiming a 1 GiB value is refused at once, before its bytes come, and nothing is reserved', async () => {
    const app = await fresh();
    const rssBefore = rssBytes(app.proc.pid);
    const conn = await RawConnection.connect(app.path);
    await conn.write(
      Buffer.concat([begin(1), record(RecordType.PARAMS, 1, Buffer.concat([Buffer.from([1]), length4(0x3fffffff), Buffer.from('AB')]))]),
    );
    expect(await conn.waitForClose(2000)).toBe(true); // no wait for a gigabyte that never comes
    conn.destroy();
    expect(rssBytes(app.proc.pid) - rssBefore).toBeLessThan(16 * 1024 * 1024);
    await expectNothingReachedTheApp(app);
  });

  test('configured limits: a name, a value and a total at the limit pass, one byte over is refused', async () => {
    const app = await fresh({ listen: { maxParamNameLength: 16, maxParamValueLength: 32, maxParamsSize: 256 } });
    const atLimit = { ['N'.repeat(16)]: 'v'.repeat(32) };
    expect((await ask(app, { params: atLimit })).env).toEqual(expectedEnv(atLimit));
    // The total counts each pair as "name=value\0" (FCGI_ROLE, which fcgi2 adds itself, is not counted).
    const total: Record<string, string> = {};
    for (let i = 0; i < 7; i++) total[`N${i}`] = 'v'.repeat(32); // 7 * (2 + 1 + 32 + 1) = 252
    total.L = 'v'; // 1 + 1 + 1 + 1 = 4: 256 exactly
    expect((await ask(app, { params: total })).env).toEqual(expectedEnv(total));
    const overs: Array<Record<string, string>> = [{ ['N'.repeat(17)]: 'v' }, { N: 'v'.repeat(33) }, { ...total, L: 'vv' }];
    for (const over of overs) {
      const conn = await sendAndWaitClose(app, requestBytes({ params: over }));
      expect(conn.records).toHaveLength(0);
    }
    const answer = await expectServesNormally(app);
    expect(answer.n).toBe(3);
  });

  test('an FCGI_GET_VALUES name over 256 bytes is refused', async () => {
    const app = await fresh();
    if (GATE) {
      // The gate answers with the names it knows and skips the others unbuffered (FastCGI 4.1; issue 15 item 4).
      const conn = await RawConnection.connect(app.path);
      await conn.write(record(RecordType.GET_VALUES, 0, encodeParams({ ['N'.repeat(300)]: '', FCGI_MPXS_CONNS: '' })));
      expect(await conn.waitFor(() => conn.recordsOf(RecordType.GET_VALUES_RESULT).length > 0, 5000)).toBe(true);
      conn.destroy();
      expect(decodeParams(conn.recordsOf(RecordType.GET_VALUES_RESULT)[0].content)).toEqual([['FCGI_MPXS_CONNS', '0']]);
    } else {
      const conn = await sendAndWaitClose(app, record(RecordType.GET_VALUES, 0, encodeParams({ ['N'.repeat(300)]: '' })));
      expect(conn.recordsOf(RecordType.GET_VALUES_RESULT)).toHaveLength(0);
    }
    await expectNothingReachedTheApp(app);
  });
});

describe('2. the FCGI_GET_VALUES reply buffer', () => {
  test.each([40, 120])('%d repeated names, no BEGIN_REQUEST: each variable answered once, padding zeros', async (repeats) => {
    const app = await fresh();
    const names: Array<[string, string]> = [];
    for (let i = 0; i < repeats; i++) names.push(['FCGI_MPXS_CONNS', ''], ['FCGI_MAX_REQS', '']);
    const conn = await RawConnection.connect(app.path);
    await conn.write(record(RecordType.GET_VALUES, 0, encodeParams(names)));
    expect(await conn.waitFor(() => conn.recordsOf(RecordType.GET_VALUES_RESULT).length > 0, 5000)).toBe(true);
    conn.destroy();
    const reply = Buffer.concat(conn.chunks);
    const contentLength = reply.readUInt16BE(4);
    const padding = reply[6];
    expect(reply.length).toBe(8 + contentLength + padding);
    expect(reply.length % 8).toBe(0);
    expect(reply.subarray(8 + contentLength).equals(Buffer.alloc(padding))).toBe(true); // no stack bytes
    // Each asked variable once (the order is not the protocol's: the gate answers in its own).
    expect(decodeParams(reply.subarray(8, 8 + contentLength)).sort()).toEqual([
      ['FCGI_MAX_REQS', '1'],
      ['FCGI_MPXS_CONNS', '0'],
    ]);
    await expectNothingReachedTheApp(app);
  });
});

describe('2b. FCGI_GET_VALUES beyond its own limits', () => {
  test('2000 repeated names (over the 4096 bytes a query may hold): refused, the connection closed', async () => {
    const app = await fresh();
    const names: Array<[string, string]> = [];
    for (let i = 0; i < 2000; i++) names.push(['FCGI_MPXS_CONNS', ''], ['FCGI_MAX_REQS', '']);
    if (GATE) {
      // The gate parses the record as it streams by: a full record is answered, each variable once (item 4).
      const conn = await RawConnection.connect(app.path);
      await conn.write(record(RecordType.GET_VALUES, 0, encodeParams(names)));
      expect(await conn.waitFor(() => conn.recordsOf(RecordType.GET_VALUES_RESULT).length > 0, 5000)).toBe(true);
      conn.destroy();
      expect(decodeParams(conn.recordsOf(RecordType.GET_VALUES_RESULT)[0].content).sort()).toEqual([
        ['FCGI_MAX_REQS', '1'],
        ['FCGI_MPXS_CONNS', '0'],
      ]);
    } else {
      const conn = await sendAndWaitClose(app, record(RecordType.GET_VALUES, 0, encodeParams(names)));
      expect(conn.records).toHaveLength(0);
    }
    await expectNothingReachedTheApp(app);
  });
});

describe('3. management records of unknown type', () => {
  test('between PARAMS records: answered FCGI_UNKNOWN_TYPE, its body is not params', async () => {
    const app = await fresh();
    const evil = record(42, 0, encodeParams({ EVIL: 'injected', REQUEST_METHOD: 'DELETE' }));
    const conn = await RawConnection.connect(app.path);
    await conn.write(Buffer.concat([begin(1), params(1, PARAMS, { end: false }), evil, params(1, { LATE: 'yes' }), stdin(1, 'body')]));
    expect(await conn.waitForEnds(1)).toBe(true);
    conn.destroy();
    const unknown = conn.recordsOf(RecordType.UNKNOWN_TYPE);
    expect(unknown.map((r) => [r.requestId, r.content[0]])).toEqual([[0, 42]]);
    const [answer] = answers(conn);
    expect(answer.env).toEqual(expectedEnv({ ...PARAMS, LATE: 'yes' }));
    expect(answer.body.toString()).toBe('body');
    await expectServesNormally(app);
  });

  test('between STDIN records: its body is not request body', async () => {
    const app = await fresh();
    const conn = await RawConnection.connect(app.path);
    await conn.write(
      Buffer.concat([
        begin(1),
        params(1, PARAMS),
        stdin(1, 'abc', { end: false }),
        record(200, 0, Buffer.from('INJECTED'), 3),
        stdin(1, 'def'),
      ]),
    );
    expect(await conn.waitForEnds(1)).toBe(true);
    conn.destroy();
    const [answer] = answers(conn);
    expect(answer.env).toEqual(expectedEnv(PARAMS));
    expect(answer.body.toString()).toBe('abcdef');
    await expectServesNormally(app);
  });

  test('10,000 of them on one connection: each answered, memory flat', async () => {
    const app = await fresh();
    await expectServesNormally(app);
    const one = record(42, 0, Buffer.from('x'.repeat(16)));
    const batch = async (): Promise<void> => {
      const conn = await RawConnection.connect(app.path);
      await conn.write(Buffer.concat(Array.from({ length: 10000 }, () => one)));
      expect(await conn.waitFor(() => conn.recordsOf(RecordType.UNKNOWN_TYPE).length === 10000, 20000)).toBe(true);
      conn.destroy();
    };
    // A first batch lets allocators settle (an ASan build's quarantine grows by a few MiB); a leak per record
    // would still grow the second batch by megabytes.
    await batch();
    const rssBefore = rssBytes(app.proc.pid);
    await batch();
    expect(rssBytes(app.proc.pid) - rssBefore).toBeLessThan(4 * 1024 * 1024);
    await expectServesNormally(app);
  });
});

describe('4. fail-closed dispatch: PARAMS that end badly never reach the app', () => {
  const cases: Array<[string, Buffer, boolean]> = [
    ['a protocol error (STDOUT from the web server)', record(RecordType.STDOUT, 1, Buffer.from('x')), false],
    ['FCGI_ABORT_REQUEST', record(RecordType.ABORT_REQUEST, 1), false],
    ['EOF', Buffer.alloc(0), true],
    ['a bad version', Buffer.concat([header(RecordType.PARAMS, 1, 0, 0, 2)]), false],
    ['an unexpected record type (FCGI_DATA)', record(RecordType.DATA, 1, Buffer.from('data')), false],
    ['STDIN before the empty PARAMS record', stdin(1, 'body'), false],
  ];
  test.each(cases)('params, then %s', async (_name, ender, halfClose) => {
    const app = await fresh();
    const conn = await sendAndWaitClose(app, Buffer.concat([begin(1), params(1, PARAMS, { end: false }), ender]), halfClose);
    expect(conn.recordsOf(RecordType.STDOUT)).toHaveLength(0);
    await expectNothingReachedTheApp(app);
  });
});

describe('5. padding', () => {
  test('a padded BEGIN_REQUEST: params intact', async () => {
    const app = await fresh();
    const answer = await askRaw(app, Buffer.concat([begin(1, { padding: 7 }), params(1, PARAMS), stdin(1, 'body')]));
    expect(answer.env).toEqual(expectedEnv(PARAMS));
    expect(answer.body.toString()).toBe('body');
    await expectServesNormally(app);
  });

  test('a padded empty PARAMS record: body intact', async () => {
    const app = await fresh();
    const bytes = Buffer.concat([
      begin(1),
      params(1, PARAMS, { end: false }),
      record(RecordType.PARAMS, 1, Buffer.alloc(0), 5),
      stdin(1, 'body'),
    ]);
    const answer = await askRaw(app, bytes);
    expect(answer.env).toEqual(expectedEnv(PARAMS));
    expect(answer.body.toString()).toBe('body');
    await expectServesNormally(app);
  });

  test('255 bytes of padding on every record, then a padded STDIN end on a kept connection: both requests intact', async () => {
    const app = await fresh();
    const conn = await RawConnection.connect(app.path);
    const body = crypto.randomBytes(3000);
    await conn.write(requestBytes({ keepConn: true, params: PARAMS, body, padding: 255, chunk: 1000 }));
    expect(await conn.waitForEnds(1)).toBe(true);
    await conn.write(requestBytes({ params: { SECOND: '1' }, body: 'second', padding: 1 }));
    expect(await conn.waitForEnds(2)).toBe(true);
    conn.destroy();
    const [first, second] = answers(conn);
    expect(first.env).toEqual(expectedEnv(PARAMS));
    expect(first.body.equals(body)).toBe(true);
    expect(second.env).toEqual(expectedEnv({ SECOND: '1' }));
    expect(second.body.toString()).toBe('second');
    await expectServesNormally(app);
  });
});

describe('6. keep-conn', () => {
  test.each([
    ['unread', 'none'],
    ['partly read', '10'],
  ])('a %s body does not break the next request on the connection', async (_name, how) => {
    const app = await fresh();
    const conn = await RawConnection.connect(app.path);
    const bigBody = crypto.randomBytes(200 * 1024);
    await conn.write(requestBytes({ keepConn: true, params: { ...PARAMS, X_READ: how }, body: bigBody, chunk: 8000 }));
    expect(await conn.waitForEnds(1)).toBe(true);
    await conn.write(requestBytes({ keepConn: true, params: { NEXT: 'request' }, body: 'next body' }));
    expect(await conn.waitForEnds(2)).toBe(true);
    conn.destroy();
    const [first, second] = answers(conn);
    expect(first.env).toEqual(expectedEnv({ ...PARAMS, X_READ: how }));
    expect(first.body.equals(bigBody.subarray(0, how === 'none' ? 0 : 10))).toBe(true);
    expect(second.env).toEqual(expectedEnv({ NEXT: 'request' }));
    expect(second.body.toString()).toBe('next body');
    await expectServesNormally(app);
  });

  test('a lone FCGI_GET_VALUES without trailing bytes is answered at once (the connection stays open)', async () => {
    const app = await fresh();
    const conn = await RawConnection.connect(app.path);
    await conn.write(record(RecordType.GET_VALUES, 0, encodeParams({ FCGI_MAX_CONNS: '' }))); // no padding
    expect(await conn.waitFor(() => conn.recordsOf(RecordType.GET_VALUES_RESULT).length === 1, 2000)).toBe(true);
    expect(conn.closed).toBe(false);
    conn.destroy();
    await expectNothingReachedTheApp(app);
  });

  // The addon keeps the connection with the request while fcgi2 holds its next request (patch 0009's readAhead).
  test('a second request pipelined in the same write is answered too', async () => {
    const app = await fresh();
    const conn = await RawConnection.connect(app.path);
    await conn.write(
      Buffer.concat([
        requestBytes({ keepConn: true, params: { WHICH: 'first' }, body: 'one' }),
        requestBytes({ params: { WHICH: 'second' }, body: 'two' }),
      ]),
    );
    const both = await conn.waitForEnds(2, undefined, 3000);
    conn.destroy();
    expect(both).toBe(true);
    const [first, second] = answers(conn);
    expect([first.env.WHICH, first.body.toString(), second.env.WHICH, second.body.toString()]).toEqual(['first', 'one', 'second', 'two']);
  });
});

describe('7. timeouts (sync loop, readTimeout 1000 ms)', () => {
  const listen = { readTimeout: 1000, writeTimeout: 1000, idleTimeout: 1000 };

  test.each([
    ['half a header', header(RecordType.BEGIN_REQUEST, 1, 8).subarray(0, 4)],
    ['half of PARAMS', Buffer.concat([begin(1), header(RecordType.PARAMS, 1, 100), Buffer.from('\x01\x01')])],
    ['half of STDIN', Buffer.concat([begin(1), params(1, PARAMS), header(RecordType.STDIN, 1, 100), Buffer.from('abc')])],
  ])('a peer that sends %s and waits is dropped after the timeout; the next client is served', async (_name, bytes) => {
    const app = await fresh({ listen });
    const stalled = await RawConnection.connect(app.path);
    await stalled.write(bytes);
    await sleep(100); // the loop is now blocked reading from it
    const started = Date.now();
    const answer = await ask(app, { params: { NEXT: '1' } });
    const waited = Date.now() - started;
    expect(answer.env).toEqual(expectedEnv({ NEXT: '1' }));
    expect(waited).toBeLessThan(5000);
    expect(await stalled.waitForClose(3000)).toBe(true);
    stalled.destroy();
    await expectServesNormally(app);
  });

  // native/reactor.cc dispatches a new connection only once it is readable, as it does kept-alive ones.
  test('an idle connection that sends nothing costs nothing: another client is served at once', async () => {
    const app = await fresh({ listen: { ...listen, readTimeout: 5000 } });
    const idle = await RawConnection.connect(app.path);
    await sleep(100);
    const conn = await RawConnection.connect(app.path);
    try {
      await conn.write(requestBytes({ params: PARAMS }));
      expect(await conn.waitForEnds(1, 1, 1000)).toBe(true);
    } finally {
      conn.destroy();
      idle.destroy();
    }
  });

  test('a connection closed without a byte costs no close drain (2 s in upstream fcgi2)', async () => {
    const app = await fresh({ listen });
    const started = Date.now();
    for (let i = 0; i < 5; i++) {
      const conn = await RawConnection.connect(app.path);
      conn.end();
      await conn.waitForClose(3000);
    }
    await expectServesNormally(app);
    expect(Date.now() - started).toBeLessThan(1500);
  });

  test('a kept-alive connection with no next request is closed after idleTimeout', async () => {
    const app = await fresh({ listen });
    const conn = await RawConnection.connect(app.path);
    await conn.write(requestBytes({ keepConn: true, params: PARAMS }));
    expect(await conn.waitForEnds(1)).toBe(true);
    const started = Date.now();
    expect(await conn.waitForClose(4000)).toBe(true);
    expect(Date.now() - started).toBeGreaterThan(500);
    await expectServesNormally(app);
  });

  // The lingering close drains what the peer still sends (so that nginx does not see a reset), with a hard bound
  // (native/reactor.cc) against a peer that trickles bytes forever.
  test('a peer that trickles bytes after its response is closed within a bound, and others are served meanwhile', async () => {
    const app = await fresh({ listen });
    const conn = await RawConnection.connect(app.path);
    await conn.write(requestBytes({ params: PARAMS }));
    expect(await conn.waitForEnds(1)).toBe(true);
    const started = Date.now();
    const trickle = setInterval(() => {
      if (!conn.closed) conn.socket.write('x');
    }, 100);
    try {
      await expectServesNormally(app);
      expect(await conn.waitForClose(40000)).toBe(true);
      expect(Date.now() - started).toBeLessThan(40000);
    } finally {
      clearInterval(trickle);
      conn.destroy();
    }
  }, 60000);
});

describe('8. roles and aborts', () => {
  test('an unknown role gets END_REQUEST{FCGI_UNKNOWN_ROLE}, nothing else', async () => {
    const app = await fresh();
    const conn = await sendAndWaitClose(app, requestBytes({ role: 7, params: PARAMS, body: 'x' }));
    expect(conn.records.map((r) => r.type)).toEqual([RecordType.END_REQUEST]);
    expect(conn.endRequests(1)).toEqual([{ appStatus: 0, protocolStatus: ProtocolStatus.UNKNOWN_ROLE }]);
    await expectNothingReachedTheApp(app);
  });

  test('FCGI_ABORT_REQUEST during PARAMS: END_REQUEST{REQUEST_COMPLETE}, the app never sees the request', async () => {
    const app = await fresh();
    const conn = await sendAndWaitClose(
      app,
      Buffer.concat([begin(1), params(1, PARAMS, { end: false }), record(RecordType.ABORT_REQUEST, 1)]),
    );
    expect(conn.records.map((r) => r.type)).toEqual([RecordType.END_REQUEST]);
    expect(conn.endRequests(1)).toEqual([{ appStatus: 0, protocolStatus: ProtocolStatus.REQUEST_COMPLETE }]);
    await expectNothingReachedTheApp(app);
  });

  test('FCGI_ABORT_REQUEST during STDIN: the app gets the params and the body so far, one END_REQUEST ends it', async () => {
    const app = await fresh();
    const conn = await RawConnection.connect(app.path);
    await conn.write(Buffer.concat([begin(1), params(1, PARAMS), stdin(1, 'partial', { end: false })]));
    await sleep(100); // the app is reading the body
    await conn.write(record(RecordType.ABORT_REQUEST, 1));
    expect(await conn.waitForClose(5000)).toBe(true);
    conn.destroy();
    expect(conn.endRequests(1)).toEqual([{ appStatus: 0, protocolStatus: ProtocolStatus.REQUEST_COMPLETE }]);
    if (GATE) {
      // The gate held the request (its body not whole yet): dropped before the app saw it, answered for it.
      await expectNothingReachedTheApp(app);
    } else {
      const [answer] = answers(conn);
      expect(answer.env).toEqual(expectedEnv(PARAMS));
      expect(answer.body.toString()).toBe('partial');
    }
    await expectServesNormally(app);
  });

  test('FCGI_ABORT_REQUEST after the request ended, on a kept connection: ignored, the next request is served', async () => {
    const app = await fresh();
    const conn = await RawConnection.connect(app.path);
    await conn.write(requestBytes({ keepConn: true, params: PARAMS }));
    expect(await conn.waitForEnds(1)).toBe(true);
    await conn.write(Buffer.concat([record(RecordType.ABORT_REQUEST, 1), requestBytes({ params: { AFTER: 'abort' }, body: 'b' })]));
    expect(await conn.waitForEnds(2)).toBe(true);
    conn.destroy();
    expect(answers(conn)[1].env).toEqual(expectedEnv({ AFTER: 'abort' }));
    expect(conn.endRequests(1)).toHaveLength(2);
    await expectServesNormally(app);
  });

  test('a second BEGIN_REQUEST with the same id never yields two END_REQUESTs', async () => {
    const app = await fresh();
    const conn = await sendAndWaitClose(
      app,
      Buffer.concat([begin(1), params(1, PARAMS, { end: false }), begin(1), params(1, { B: '2' }), stdin(1, 'x')]),
    );
    expect(conn.endRequests(1).length).toBeLessThanOrEqual(1);
    expect(conn.recordsOf(RecordType.STDOUT)).toHaveLength(0);
    await expectNothingReachedTheApp(app);
  });

  test('a BEGIN_REQUEST for another id during a request: END_REQUEST{FCGI_CANT_MPX_CONN} for it, the first completes', async () => {
    const app = await fresh();
    const conn = await RawConnection.connect(app.path);
    await conn.write(
      Buffer.concat([
        begin(1),
        params(1, PARAMS, { end: false }),
        begin(2),
        params(2, { OTHER: 'id' }),
        params(1, { MORE: '1' }),
        stdin(1, 'one'),
      ]),
    );
    expect(await conn.waitForEnds(1, 1)).toBe(true);
    conn.destroy();
    expect(conn.endRequests(2)).toEqual([{ appStatus: 0, protocolStatus: ProtocolStatus.CANT_MPX_CONN }]);
    expect(conn.endRequests(1)).toEqual([{ appStatus: 0, protocolStatus: ProtocolStatus.REQUEST_COMPLETE }]);
    const [answer] = answers(conn);
    expect(answer.env).toEqual(expectedEnv({ ...PARAMS, MORE: '1' }));
    expect(answer.body.toString()).toBe('one');
    await expectServesNormally(app);
  });
});

describe('9. params hygiene', () => {
  test.each([
    ['a name with "="', [['A=B', 'C']]],
    ['a name with NUL', [['A\0B', 'C']]],
    ['an empty name', [['', 'value']]],
    ['a value with NUL', [['A', 'x\0HTTP_EVIL=1']]],
  ] as Array<[string, Array<[string, string]>]>)('%s: the request is refused', async (_name, pairs) => {
    const app = await fresh();
    const conn = await sendAndWaitClose(app, requestBytes({ params: [...Object.entries(PARAMS), ...pairs] }));
    expect(conn.records).toHaveLength(0);
    await expectNothingReachedTheApp(app);
  });

  test('duplicate names: the first wins', async () => {
    const app = await fresh();
    const answer = await ask(app, {
      params: [
        ['HTTP_X', 'first'],
        ['A', '1'],
        ['HTTP_X', 'second'],
      ],
    });
    expect(answer.env).toEqual(expectedEnv({ HTTP_X: 'first', A: '1' }));
    await expectServesNormally(app);
  });
});

describe('signals during a blocking read (patch 0012)', () => {
  test('a handled signal while the loop waits for the body does not cut the body short', async () => {
    const app = await fresh({ env: { APP_SIGNAL_HANDLER: '1' } });
    const conn = await RawConnection.connect(app.path);
    await conn.write(Buffer.concat([begin(1), params(1, PARAMS), stdin(1, 'first half ', { end: false })]));
    for (let i = 0; i < 5; i++) {
      await sleep(50);
      app.proc.kill('SIGUSR2');
    }
    await sleep(50);
    await conn.write(stdin(1, 'second half'));
    expect(await conn.waitForEnds(1)).toBe(true);
    conn.destroy();
    expect(answers(conn)[0].body.toString()).toBe('first half second half');
    await expectServesNormally(app);
  });
});

/** One request's raw bytes on a new connection; the app's answer. */
async function askRaw(app: ProtocolApp, bytes: Buffer) {
  const conn = await RawConnection.connect(app.path);
  await conn.write(bytes);
  const ok = await conn.waitForEnds(1);
  conn.destroy();
  if (!ok) throw new Error(`no END_REQUEST: ${describeRecords(conn)}`);
  return answers(conn)[0];
}
