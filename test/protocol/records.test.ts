// FastCGI on the wire against the accept loop: params and bodies of all sizes, odd splits, keep-conn, management
// records, roles, and malformed records after which the same process goes on serving.
import crypto from 'crypto';
import { FastCGIClient, encodeParams } from '../../lib/client';
import { closeAfterAll } from '../helpers/cleanup';
import {
  ProtocolStatus,
  RawConnection,
  RecordType,
  Role,
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
  type ProtocolApp,
} from './harness';

jest.setTimeout(120000);

describe('the accept loop on the wire', () => {
  const track = closeAfterAll();
  let app: ProtocolApp;

  beforeAll(async () => {
    app = track(await startProtocolApp());
  });

  describe('params', () => {
    test('values of every length from 0 to 300 bytes (1-byte and 4-byte lengths) arrive byte-exact', async () => {
      const params: Record<string, string> = {};
      for (let len = 0; len <= 300; len++) params[`V${len}`] = 'abcdefghij'.repeat(31).slice(0, len);
      const answer = await ask(app, { params });
      expect(answer.env).toEqual(expectedEnv(params));
    });

    test('names of 1, 127, 128, 129 and 4000 bytes arrive byte-exact', async () => {
      const params: Record<string, string> = {};
      for (const len of [1, 127, 128, 129, 4000]) params['N'.repeat(len)] = String(len);
      const answer = await ask(app, { params });
      expect(answer.env).toEqual(expectedEnv(params));
    });

    test('a short length in the 4-byte form is accepted', async () => {
      const pairs = Buffer.concat([length4(1), length4(3), Buffer.from('Aabc'), Buffer.from([1, 1]), Buffer.from('BC')]);
      const conn = await RawConnection.connect(app.path);
      await conn.write(Buffer.concat([begin(1), stream(RecordType.PARAMS, 1, pairs), stream(RecordType.STDIN, 1, Buffer.alloc(0))]));
      expect(await conn.waitForEnds(1)).toBe(true);
      conn.destroy();
      expect(answers(conn)[0].env).toEqual(expectedEnv({ A: 'abc', B: 'C' }));
    });

    test('64 KiB of params in one request, cut into records mid-pair, arrive exact', async () => {
      const params: Record<string, string> = {};
      for (let i = 0; i < 66; i++) params[`HTTP_X_${i}`] = crypto.randomBytes(512).toString('hex').slice(0, 1000);
      expect(encodeParams(params).length).toBeGreaterThan(64 * 1024);
      for (const chunk of [0xffff, 1000, 7]) {
        const answer = await ask(app, { params, chunk });
        expect(answer.env).toEqual(expectedEnv(params));
      }
    });

    test('every byte value but NUL in a value reaches the app (as latin1)', async () => {
      const bytes = Buffer.from(Array.from({ length: 255 }, (_, i) => i + 1));
      const answer = await ask(app, { params: [['BYTES', bytes]] });
      expect(answer.env.BYTES).toBe(bytes.toString('latin1'));
    });
  });

  describe('body (FCGI_STDIN)', () => {
    test.each([0, 1, 8, 65535, 65536, 1024 * 1024 + 3])('%d bytes arrive byte-exact', async (size) => {
      const body = crypto.randomBytes(size);
      const answer = await ask(app, { params: { CONTENT_LENGTH: String(size) }, body });
      expect(answer.body.equals(body)).toBe(true);
    });

    test('a body in 1-byte records arrives exact', async () => {
      const body = crypto.randomBytes(200);
      const answer = await ask(app, { body, chunk: 1 });
      expect(answer.body.equals(body)).toBe(true);
    });
  });

  describe('output (FCGI_STDOUT)', () => {
    test("a large answer leaves in records of up to 65528 bytes written from the app's memory (patch 0016), 8-byte aligned, and arrives exact", async () => {
      const body = crypto.randomBytes(300 * 1024); // echoed as base64 JSON: ~400 KiB of output
      const conn = await RawConnection.connect(app.path);
      try {
        await conn.write(requestBytes({ params: { CONTENT_LENGTH: String(body.length) }, body }));
        expect(await conn.waitForEnds(1)).toBe(true);
        const [answer] = answers(conn);
        expect(answer.body.equals(body)).toBe(true);
        const sizes = conn.records.filter((r) => r.type === RecordType.STDOUT && r.content.length > 0).map((r) => r.content.length);
        // fcgi2's 8 KiB buffer alone makes records of at most 8184 bytes; the direct path makes full ones.
        expect(Math.max(...sizes)).toBe(65528);
        for (const n of sizes) expect(n).toBeLessThanOrEqual(65535);
        for (const n of sizes.slice(0, -1)) if (n > 8184) expect(n % 8).toBe(0);
      } finally {
        conn.destroy();
      }
    });
  });

  describe('records split anywhere', () => {
    const params = { REQUEST_METHOD: 'POST', QUERY_STRING: 'a=1' };
    const bytes = requestBytes({ params, body: 'split me', padding: 3 });

    test(`a ${bytes.length}-byte request written in two parts, at every split point, is answered exactly`, async () => {
      for (let at = 1; at < bytes.length; at++) {
        const conn = await RawConnection.connect(app.path);
        await conn.write(bytes.subarray(0, at));
        await sleep(2); // a separate read on the app's side, most of the time
        await conn.write(bytes.subarray(at));
        const ok = await conn.waitForEnds(1);
        conn.destroy();
        if (!ok) throw new Error(`split at ${at}: no END_REQUEST: ${describeRecords(conn)}`);
        const [answer] = answers(conn);
        expect({ at, env: answer.env, body: answer.body.toString() }).toEqual({ at, env: expectedEnv(params), body: 'split me' });
      }
    });

    test('the same request written one byte at a time is answered exactly', async () => {
      const conn = await RawConnection.connect(app.path);
      for (const byte of bytes) {
        await conn.write(Buffer.from([byte]));
        await sleep(1);
      }
      expect(await conn.waitForEnds(1)).toBe(true);
      conn.destroy();
      const [answer] = answers(conn);
      expect(answer.env).toEqual(expectedEnv(params));
      expect(answer.body.toString()).toBe('split me');
    });
  });

  describe('connections', () => {
    test('keep-conn: five requests in turn on one connection are answered and the connection stays open', async () => {
      const conn = await RawConnection.connect(app.path);
      for (let i = 1; i <= 5; i++) {
        await conn.write(requestBytes({ keepConn: true, params: { I: String(i) }, body: `body ${i}` }));
        expect(await conn.waitForEnds(i)).toBe(true);
        const answer = answers(conn)[i - 1];
        expect(answer.env).toEqual(expectedEnv({ I: String(i) }));
        expect(answer.body.toString()).toBe(`body ${i}`);
      }
      await sleep(50);
      expect(conn.closed).toBe(false);
      conn.destroy();
    });

    test('without keep-conn the app closes the connection after the request', async () => {
      const conn = await RawConnection.connect(app.path);
      await conn.write(requestBytes({ params: { A: '1' } }));
      expect(await conn.waitForClose()).toBe(true);
      expect(conn.endRequests()).toEqual([{ appStatus: 0, protocolStatus: ProtocolStatus.REQUEST_COMPLETE }]);
    });

    test('two requests on one connection: the first kept, the second closes it', async () => {
      const conn = await RawConnection.connect(app.path);
      await conn.write(requestBytes({ keepConn: true, params: { WHICH: 'first' }, body: 'one' }));
      expect(await conn.waitForEnds(1)).toBe(true);
      await conn.write(requestBytes({ id: 2, params: { WHICH: 'second' }, body: 'two' }));
      expect(await conn.waitForClose()).toBe(true);
      const [first, second] = answers(conn);
      expect([first.env.WHICH, first.body.toString(), second.env.WHICH, second.body.toString()]).toEqual(['first', 'one', 'second', 'two']);
      expect(conn.endRequests(2)).toHaveLength(1);
      expect(second.n).toBe(first.n + 1);
    });

    test('END_REQUEST carries the exit status the app set', async () => {
      const answer = await ask(app, { params: { X_STATUS: '42' } });
      expect(answer.end).toEqual({ appStatus: 42, protocolStatus: ProtocolStatus.REQUEST_COMPLETE });
    });
  });

  describe('management records', () => {
    test('FCGI_GET_VALUES is answered with FCGI_MAX_CONNS, FCGI_MAX_REQS and FCGI_MPXS_CONNS', async () => {
      const client = await FastCGIClient.connect({ path: app.path }, { timeout: 5000 });
      try {
        const values = await client.getValues(['FCGI_MAX_CONNS', 'FCGI_MAX_REQS', 'FCGI_MPXS_CONNS', 'NOT_A_VARIABLE']);
        expect(values).toEqual({ FCGI_MAX_CONNS: '1', FCGI_MAX_REQS: '1', FCGI_MPXS_CONNS: '0' });
      } finally {
        await client.close();
      }
    });

    test('a GET_VALUES before a request on the same connection is answered, then the request', async () => {
      const conn = await RawConnection.connect(app.path);
      const query = record(RecordType.GET_VALUES, 0, encodeParams({ FCGI_MPXS_CONNS: '' }));
      await conn.write(Buffer.concat([query, requestBytes({ params: { AFTER: 'values' } })]));
      expect(await conn.waitForEnds(1)).toBe(true);
      conn.destroy();
      expect(conn.recordsOf(RecordType.GET_VALUES_RESULT)).toHaveLength(1);
      expect(answers(conn)[0].env).toEqual(expectedEnv({ AFTER: 'values' }));
    });
  });

  describe('roles', () => {
    test('AUTHORIZER and FILTER requests reach the app with their role', async () => {
      expect((await ask(app, { role: Role.AUTHORIZER })).role).toBe('AUTHORIZER');
      const conn = await RawConnection.connect(app.path);
      await conn.write(
        Buffer.concat([
          begin(1, { role: Role.FILTER }),
          stream(RecordType.PARAMS, 1, encodeParams({ A: '1' })),
          stream(RecordType.STDIN, 1, Buffer.from('in')),
          stream(RecordType.DATA, 1, Buffer.from('data')),
        ]),
      );
      expect(await conn.waitForEnds(1)).toBe(true);
      conn.destroy();
      const [answer] = answers(conn);
      expect(answer.role).toBe('FILTER');
      expect(answer.env).toEqual(expectedEnv({ A: '1' }, 'FILTER'));
      expect(answer.body.toString()).toBe('in');
    });

    test('an unknown role gets END_REQUEST{FCGI_UNKNOWN_ROLE}, and the process goes on', async () => {
      const conn = await RawConnection.connect(app.path);
      await conn.write(requestBytes({ role: 9, params: { A: '1' } }));
      expect(await conn.waitForClose()).toBe(true);
      expect(conn.recordsOf(RecordType.STDOUT)).toHaveLength(0);
      expect(conn.endRequests(1)).toEqual([{ appStatus: 0, protocolStatus: ProtocolStatus.UNKNOWN_ROLE }]);
      await expectServesNormally(app);
    });
  });

  describe('malformed records: the connection is dropped, the same process serves the next request', () => {
    const header = (type: number, id: number, contentLength: number, paddingLength = 0, version = 1) =>
      Buffer.from([version, type, id >> 8, id & 0xff, contentLength >> 8, contentLength & 0xff, paddingLength, 0]);

    const cases: Array<[string, Buffer, 'close' | 'end']> = [
      ['a bad version in BEGIN_REQUEST', Buffer.concat([header(RecordType.BEGIN_REQUEST, 1, 8, 0, 2), Buffer.alloc(8)]), 'close'],
      ['a bad version in PARAMS', Buffer.concat([begin(1), header(RecordType.PARAMS, 1, 0, 0, 0)]), 'close'],
      ['a truncated header, then close', header(RecordType.BEGIN_REQUEST, 1, 8).subarray(0, 5), 'end'],
      ['a truncated BEGIN_REQUEST body, then close', Buffer.concat([header(RecordType.BEGIN_REQUEST, 1, 8), Buffer.alloc(3)]), 'end'],
      ['BEGIN_REQUEST with a 7-byte body', Buffer.concat([header(RecordType.BEGIN_REQUEST, 1, 7), Buffer.alloc(7)]), 'close'],
      [
        'BEGIN_REQUEST for request id 0',
        Buffer.concat([header(RecordType.BEGIN_REQUEST, 0, 8), Buffer.from([0, 1, 0, 0, 0, 0, 0, 0])]),
        'close',
      ],
      [
        'nameLength = valueLength = 0x7ffffffe (the CVE-2025-23016 pattern)',
        Buffer.concat([
          begin(1),
          record(RecordType.PARAMS, 1, Buffer.concat([length4(0x7ffffffe), length4(0x7ffffffe), Buffer.from('AAAAAAAA')])),
        ]),
        'close',
      ],
      [
        'nameLength 0x7fffffff',
        Buffer.concat([
          begin(1),
          record(RecordType.PARAMS, 1, Buffer.concat([length4(0x7fffffff), Buffer.from([1]), Buffer.from('AAAA')])),
        ]),
        'close',
      ],
      [
        'a value claiming 0x40000000 bytes',
        Buffer.concat([begin(1), record(RecordType.PARAMS, 1, Buffer.concat([Buffer.from([1]), length4(0x40000000), Buffer.from('AB')]))]),
        'close',
      ],
      [
        'PARAMS content longer than sent, then close',
        Buffer.concat([begin(1), header(RecordType.PARAMS, 1, 1000), Buffer.from('\x01\x01AB')]),
        'end',
      ],
      [
        'a pair cut short by the empty PARAMS record',
        Buffer.concat([begin(1), record(RecordType.PARAMS, 1, Buffer.from([5, 5, 65])), record(RecordType.PARAMS, 1)]),
        'close',
      ],
    ];

    test.each(cases)('%s', async (_name, bytes, then) => {
      const before = await expectServesNormally(app);
      const conn = await RawConnection.connect(app.path);
      await conn.write(bytes);
      if (then === 'end') conn.end();
      const closed = await conn.waitForClose(5000);
      conn.destroy();
      expect(closed).toBe(true);
      expect(conn.recordsOf(RecordType.STDOUT)).toHaveLength(0);
      const after = await expectServesNormally(app);
      expect(after.n).toBe(before.n + 1); // the malformed request never reached the app
    });

    test('STDIN content longer than sent, then close: the app gets the bytes that came, the connection is closed', async () => {
      const before = await expectServesNormally(app);
      const conn = await RawConnection.connect(app.path);
      await conn.write(
        Buffer.concat([
          begin(1),
          stream(RecordType.PARAMS, 1, encodeParams({ A: '1' })),
          header(RecordType.STDIN, 1, 65535, 255),
          Buffer.from('abc'),
        ]),
      );
      conn.end();
      expect(await conn.waitForClose(5000)).toBe(true);
      const [answer] = answers(conn);
      expect(answer.n).toBe(before.n + 1);
      expect(answer.env).toEqual(expectedEnv({ A: '1' }));
      expect(answer.body.toString()).toBe('abc');
      await expectServesNormally(app);
    });
  });
});
