// The FastCGI client: exact wire bytes of the codec, CGI response parsing, and client behaviour against a fake app.
import { createHash, randomBytes } from 'crypto';
import fs from 'fs';
import net from 'net';
import path from 'path';
import { PassThrough, Readable } from 'stream';
import {
  CgiResponseParser,
  CgiResponseStream,
  FastCGIClient,
  type FastCGIRecord,
  ProtocolStatus,
  requestRejection,
  RecordDecoder,
  RecordType,
  Role,
  decodeBeginRequest,
  decodeEndRequest,
  decodeParams,
  encodeBeginRequest,
  encodeEndRequest,
  encodeParamLength,
  encodeParams,
  encodeRecord,
  encodeStreamRecords,
  fcgiRequest,
  parseCgiResponse,
} from '../../lib/client';
import { makeTempDir } from '../helpers/tmp';

const bytes = (...values: number[]) => Buffer.from(values);
const text = (s: string) => Buffer.from(s, 'latin1');
/** A number where a param name belongs: the run-time check must catch what the types would not allow. */
const notAString = 42 as unknown as string;

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

/** A deterministic PRNG (mulberry32) so random splits are reproducible. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Records that exercise every header field: empty content, padding, a full-size record, ids over 255. */
function sampleRecords(): Buffer {
  return Buffer.concat([
    encodeRecord(RecordType.STDOUT, 1, text('Content-Type: text/plain\r\n\r\nhello'), 3),
    encodeRecord(RecordType.STDERR, 0x1234, text('warning'), 0),
    encodeRecord(RecordType.STDOUT, 1, Buffer.alloc(0), 7),
    encodeRecord(RecordType.STDOUT, 300, randomBytes(65535), 255),
    encodeRecord(RecordType.END_REQUEST, 1, encodeEndRequest(0x01020304, ProtocolStatus.OVERLOADED)),
  ]);
}

describe('record encoding', () => {
  test('encodeRecord lays out version, type, request id, content length (big-endian), reserved 0, zero padding', () => {
    expect(encodeRecord(RecordType.STDOUT, 0x1234, text('abc'), 5)).toEqual(
      bytes(1, 6, 0x12, 0x34, 0x00, 0x03, 5, 0, 0x61, 0x62, 0x63, 0, 0, 0, 0, 0),
    );
    expect(encodeRecord(RecordType.PARAMS, 1)).toEqual(bytes(1, 4, 0, 1, 0, 0, 0, 0));
  });

  test('encodeRecord takes 65535 bytes of content and refuses 65536 with a RangeError', () => {
    const full = encodeRecord(RecordType.STDIN, 1, Buffer.alloc(65535, 0x41));
    expect(full.subarray(0, 8)).toEqual(bytes(1, 5, 0, 1, 0xff, 0xff, 0, 0));
    expect(full.length).toBe(8 + 65535);
    expect(() => encodeRecord(RecordType.STDIN, 1, Buffer.alloc(65536))).toThrow(RangeError);
    expect(() => encodeRecord(RecordType.STDIN, 1, Buffer.alloc(65536))).toThrow(/content/);
  });

  test('encodeRecord names the argument that is out of range', () => {
    expect(() => encodeRecord(RecordType.STDIN, 65536)).toThrow(/requestId/);
    expect(() => encodeRecord(RecordType.STDIN, -1)).toThrow(RangeError);
    expect(() => encodeRecord(RecordType.STDIN, 1.5)).toThrow(/requestId/);
    expect(() => encodeRecord(256, 1)).toThrow(/type/);
    expect(() => encodeRecord(RecordType.STDIN, 1, Buffer.alloc(0), 256)).toThrow(/paddingLength/);
    expect(() => encodeRecord(RecordType.STDIN, 1, 'abc' as unknown as Uint8Array)).toThrow(TypeError);
  });

  test('encodeStreamRecords cuts a long stream into records of at most 65535 bytes, then an empty one', () => {
    const data = randomBytes(65535 * 2 + 10);
    const out = encodeStreamRecords(RecordType.STDIN, 2, data);
    const records = new RecordDecoder().push(out);
    expect(records.map((r) => r.content.length)).toEqual([65535, 65535, 10, 0]);
    expect(records.every((r) => r.type === RecordType.STDIN && r.requestId === 2)).toBe(true);
    expect(Buffer.concat(records.map((r) => r.content)).equals(data)).toBe(true);
    expect(out.subarray(0, 8)).toEqual(bytes(1, 5, 0, 2, 0xff, 0xff, 0, 0));
  });

  test('encodeStreamRecords honours a smaller maxContentLength and end: false', () => {
    const out = encodeStreamRecords(RecordType.PARAMS, 1, text('abcdefg'), { maxContentLength: 3, end: false });
    expect(out).toEqual(
      Buffer.concat([
        bytes(1, 4, 0, 1, 0, 3, 0, 0),
        text('abc'),
        bytes(1, 4, 0, 1, 0, 3, 0, 0),
        text('def'),
        bytes(1, 4, 0, 1, 0, 1, 0, 0),
        text('g'),
      ]),
    );
    expect(encodeStreamRecords(RecordType.STDIN, 1, Buffer.alloc(0))).toEqual(bytes(1, 5, 0, 1, 0, 0, 0, 0));
  });
});

describe('name-value pairs', () => {
  test('short names and values use 1-byte lengths', () => {
    expect(encodeParams([['A', 'bc']])).toEqual(bytes(1, 2, 0x41, 0x62, 0x63));
    expect(encodeParams({ X: '' })).toEqual(bytes(1, 0, 0x58));
  });

  test('127 bytes is the last 1-byte length; 128 takes 4 bytes with the high bit set', () => {
    const n127 = 'n'.repeat(127);
    const v128 = 'v'.repeat(128);
    const out = encodeParams([[n127, v128]]);
    expect(out.subarray(0, 5)).toEqual(bytes(0x7f, 0x80, 0x00, 0x00, 0x80));
    expect(out.length).toBe(1 + 4 + 127 + 128);
    const swapped = encodeParams([[v128, n127]]);
    expect(swapped.subarray(0, 5)).toEqual(bytes(0x80, 0x00, 0x00, 0x80, 0x7f));
  });

  test('a length of 0x7fffffff is the largest; 0x80000000 is a RangeError', () => {
    expect(encodeParamLength(0x7fffffff)).toEqual(bytes(0xff, 0xff, 0xff, 0xff));
    expect(encodeParamLength(0x12345678)).toEqual(bytes(0x92, 0x34, 0x56, 0x78));
    expect(encodeParamLength(127)).toEqual(bytes(0x7f));
    expect(encodeParamLength(128)).toEqual(bytes(0x80, 0, 0, 0x80));
    expect(() => encodeParamLength(0x80000000)).toThrow(RangeError);
    expect(() => encodeParamLength(-1)).toThrow(RangeError);
  });

  test('decodeParams(encodeParams(x)) gives x back: order, repeats, UTF-8, CR/LF/NUL, long values', () => {
    const pairs: Array<[string, string]> = [
      ['REQUEST_METHOD', 'GET'],
      ['HTTP_COOKIE', 'a=1'],
      ['HTTP_COOKIE', 'b=2'],
      ['EMPTY', ''],
      ['', 'empty name'],
      ['MULTILINE', 'line1\r\nline2\n\0end'],
      ['UNICODE', 'grüße ☃'],
      ['LONG', 'x'.repeat(70000)],
      ['N'.repeat(300), 'long name'],
    ];
    expect(decodeParams(encodeParams(pairs))).toEqual(pairs);
    expect(decodeParams(encodeParams(new Map(pairs.slice(0, 2))))).toEqual(pairs.slice(0, 2));
    const binary: Array<[Buffer, Buffer]> = [[bytes(0xff, 0x00, 0x0d, 0x0a), randomBytes(200)]];
    expect(decodeParams(encodeParams(binary), { encoding: 'buffer' })).toEqual(binary);
  });

  test('decodeParams accepts a 4-byte length for a short value', () => {
    expect(decodeParams(bytes(1, 0x80, 0, 0, 2, 0x41, 0x62, 0x63))).toEqual([['A', 'bc']]);
  });

  test('decodeParams throws FCGI_PARAMS_ERROR for every truncation of a valid stream', () => {
    const full = encodeParams([
      ['A', 'b'],
      ['N'.repeat(130), 'v'.repeat(140)],
    ]);
    for (let length = 1; length < full.length; length++) {
      if (length === 4) continue; // exactly the first pair: a valid stream
      expect(() => decodeParams(full.subarray(0, length))).toThrow(expect.objectContaining({ code: 'FCGI_PARAMS_ERROR' }));
    }
    expect(() => decodeParams(bytes(5, 5, 0x41))).toThrow(/declares a 5-byte name and a 5-byte value/);
  });

  test('names and values must be strings or byte arrays: TypeError naming the bad one', () => {
    expect(() => encodeParams([[notAString, 'v']])).toThrow(TypeError);
    expect(() => encodeParams([[notAString, 'v']])).toThrow(/params\[0\] name/);
    expect(() =>
      encodeParams([
        ['A', 'b'],
        ['B', null as unknown as string],
      ]),
    ).toThrow(/params\[1\] value/);
    expect(() => encodeParams({ A: undefined as unknown as string })).toThrow(/"A"/);
    expect(() => encodeParams([['only-name'] as unknown as [string, string]])).toThrow(/pair/);
    expect(() => encodeParams('A=b' as unknown as Record<string, string>)).toThrow(TypeError);
  });
});

describe('fixed-size record bodies', () => {
  test('BEGIN_REQUEST: role big-endian, FCGI_KEEP_CONN in flags, 5 reserved zeros', () => {
    expect(encodeBeginRequest(Role.RESPONDER, true)).toEqual(bytes(0, 1, 1, 0, 0, 0, 0, 0));
    expect(encodeBeginRequest(Role.FILTER, false)).toEqual(bytes(0, 3, 0, 0, 0, 0, 0, 0));
    expect(encodeBeginRequest(0x1234, false)).toEqual(bytes(0x12, 0x34, 0, 0, 0, 0, 0, 0));
    expect(decodeBeginRequest(encodeBeginRequest(Role.AUTHORIZER, true))).toEqual({
      role: 2,
      flags: 1,
      keepConn: true,
    });
    expect(() => encodeBeginRequest(0x10000, true)).toThrow(/role/);
    expect(() => encodeBeginRequest(Role.RESPONDER, 1 as unknown as boolean)).toThrow(/keepConn/);
  });

  test('END_REQUEST: 32-bit appStatus, protocolStatus, 3 reserved; any other length is a protocol error', () => {
    expect(encodeEndRequest(0x01020304, ProtocolStatus.UNKNOWN_ROLE)).toEqual(bytes(1, 2, 3, 4, 3, 0, 0, 0));
    expect(decodeEndRequest(bytes(0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0))).toEqual({
      appStatus: 0xffffffff,
      protocolStatus: 2,
    });
    expect(() => decodeEndRequest(bytes(0, 0, 0, 0, 0, 0, 0))).toThrow(expect.objectContaining({ code: 'FCGI_PROTOCOL_ERROR' }));
  });
});

describe('RecordDecoder', () => {
  const whole = sampleRecords();
  const expected = new RecordDecoder().push(whole);
  /** Records with content replaced by a digest: jest compares 64 KiB Buffers element by element, slowly. */
  const summary = (records: FastCGIRecord[]) => records.map((r) => [r.version, r.type, r.requestId, r.paddingLength, sha256(r.content)]);

  test('decodes the header fields and skips padding', () => {
    expect(expected.map((r) => [r.version, r.type, r.requestId, r.content.length, r.paddingLength])).toEqual([
      [1, 6, 1, 33, 3],
      [1, 7, 0x1234, 7, 0],
      [1, 6, 1, 0, 7],
      [1, 6, 300, 65535, 255],
      [1, 3, 1, 8, 0],
    ]);
    expect(expected[0].content.toString()).toBe('Content-Type: text/plain\r\n\r\nhello');
    expect(decodeEndRequest(expected[4].content)).toEqual({ appStatus: 0x01020304, protocolStatus: 2 });
  });

  test('fed one byte at a time it gives the same records, each as soon as its last byte arrives', () => {
    const decoder = new RecordDecoder();
    const got: FastCGIRecord[] = [];
    const completedAt: number[] = [];
    for (let i = 0; i < whole.length; i++) {
      for (const record of decoder.push(whole.subarray(i, i + 1))) {
        got.push(record);
        completedAt.push(i + 1);
      }
    }
    expect(summary(got)).toEqual(summary(expected));
    let end = 0;
    expect(completedAt).toEqual(expected.map((r) => (end += 8 + r.content.length + r.paddingLength)));
    expect(decoder.bufferedBytes).toBe(0);
    expect(() => decoder.end()).not.toThrow();
  });

  test('fed random splits it gives the same records', () => {
    const random = prng(42);
    for (let trial = 0; trial < 100; trial++) {
      const decoder = new RecordDecoder();
      const got: FastCGIRecord[] = [];
      for (let offset = 0; offset < whole.length;) {
        const size = 1 + Math.floor(random() * (random() < 0.5 ? 16 : 70000));
        got.push(...decoder.push(whole.subarray(offset, offset + size)));
        offset += size;
      }
      expect(summary(got)).toEqual(summary(expected));
    }
  });

  test('a header whose version is not 1 is a protocol error naming the offset and the bytes, and stays one', () => {
    const decoder = new RecordDecoder();
    decoder.push(encodeRecord(RecordType.STDOUT, 1, text('ok')));
    const bad = bytes(2, 6, 0, 1, 0, 0, 0, 0);
    expect(() => decoder.push(bad)).toThrow(expect.objectContaining({ code: 'FCGI_PROTOCOL_ERROR' }));
    expect(() => decoder.push(bad)).toThrow(/at byte 10: version is 2, expected 1; header bytes 02 06 00 01/);
    expect(() => decoder.push(encodeRecord(RecordType.STDOUT, 1))).toThrow(/version is 2/);
  });

  test('an HTTP response instead of FastCGI records is recognised in the message', () => {
    expect(() => new RecordDecoder().push(text('HTTP/1.1 400 Bad Request\r\n'))).toThrow(/HTTP server rather than a FastCGI/);
  });

  test('end() inside a record says where the bytes stopped', () => {
    const decoder = new RecordDecoder();
    decoder.push(bytes(1, 6, 0));
    expect(decoder.bufferedBytes).toBe(3);
    expect(() => decoder.end()).toThrow(/after 3 of 8 header bytes/);
    const inContent = new RecordDecoder();
    inContent.push(encodeRecord(RecordType.STDOUT, 7, text('abcdef'), 2).subarray(0, 12));
    expect(() => inContent.end()).toThrow(/STDOUT record for request 7 after 4 of 6 content bytes/);
  });
});

describe('parseCgiResponse', () => {
  test('Status sets status and reason and is not passed on as a header', () => {
    const r = parseCgiResponse(text('Status: 404 Not Here\r\nContent-Type: text/html\r\n\r\n<p>gone</p>'));
    expect(r).toEqual({
      status: 404,
      statusText: 'Not Here',
      headers: [['Content-Type', 'text/html']],
      body: text('<p>gone</p>'),
    });
  });

  test('Status without a reason gets the standard reason phrase', () => {
    expect(parseCgiResponse(text('status: 503\n\n'))).toMatchObject({ status: 503, statusText: 'Service Unavailable' });
  });

  test('no Status means 200; Location without Status means 302; Location with Status keeps the Status', () => {
    expect(parseCgiResponse(text('Content-Type: text/plain\n\nx'))).toMatchObject({ status: 200, statusText: 'OK' });
    expect(parseCgiResponse(text('Location: https://example.com/\r\n\r\n'))).toMatchObject({
      status: 302,
      statusText: 'Found',
      headers: [['Location', 'https://example.com/']],
    });
    expect(parseCgiResponse(text('Location: /new\r\nStatus: 301 Moved Permanently\r\n\r\n'))).toMatchObject({
      status: 301,
      headers: [['Location', '/new']],
    });
  });

  test('LF, CRLF and mixed line ends give the same head; the body is byte-exact, blank lines in it included', () => {
    const body = Buffer.concat([text('a\r\n\r\nb\n\n'), randomBytes(1000)]);
    const heads = ['A: 1\nB:2\n\n', 'A: 1\r\nB:2\r\n\r\n', 'A: 1\r\nB:2\n\r\n', 'A: 1\nB:2\r\n\n'].map((head) =>
      parseCgiResponse(Buffer.concat([text(head), body])),
    );
    for (const r of heads) {
      expect(r.headers).toEqual([
        ['A', '1'],
        ['B', '2'],
      ]);
      expect(r.body).toEqual(body);
    }
  });

  test('repeated headers (Set-Cookie) are kept, in order', () => {
    const r = parseCgiResponse(text('Set-Cookie: a=1\r\nX: y\r\nSet-Cookie: b=2; Path=/\r\n\r\n'));
    expect(r.headers).toEqual([
      ['Set-Cookie', 'a=1'],
      ['X', 'y'],
      ['Set-Cookie', 'b=2; Path=/'],
    ]);
  });

  test('a response starting with the blank line has no headers and status 200', () => {
    expect(parseCgiResponse(text('\r\nbody'))).toEqual({
      status: 200,
      statusText: 'OK',
      headers: [],
      body: text('body'),
    });
    expect(parseCgiResponse(text('\n'))).toEqual({ status: 200, statusText: 'OK', headers: [], body: Buffer.alloc(0) });
  });

  test('output that is not a CGI response is FCGI_CGI_RESPONSE_ERROR', () => {
    const code = expect.objectContaining({ code: 'FCGI_CGI_RESPONSE_ERROR' });
    expect(() => parseCgiResponse(Buffer.alloc(0))).toThrow(/no output/);
    expect(() => parseCgiResponse(text('Content-Type: text/plain\r\nhello'))).toThrow(code);
    expect(() => parseCgiResponse(text('hello world\n\n'))).toThrow(/line 1 is not "Name: value"/);
    expect(() => parseCgiResponse(text('Status: abc\n\n'))).toThrow(/Status field/);
    expect(() => parseCgiResponse(text('Status: 200\nStatus: 404\n\n'))).toThrow(/repeats the Status/);
    expect(() => parseCgiResponse(text('Bad Name: x\n\n'))).toThrow(/invalid field name/);
    expect(() => parseCgiResponse(text(`X: ${'a'.repeat(100)}\n\n`), { maxHeaderSize: 50 })).toThrow(/longer than 50 bytes/);
  });

  test('the incremental parser fed one byte at a time finds the same head and body', () => {
    const whole = text('Status: 201 Created\r\nSet-Cookie: a=1\r\n\r\nbody\r\n\r\nmore');
    const parser = new CgiResponseParser();
    const body: Buffer[] = [];
    let headAt = -1;
    for (let i = 0; i < whole.length; i++) {
      body.push(parser.push(whole.subarray(i, i + 1)));
      if (headAt < 0 && parser.head) headAt = i;
    }
    expect(headAt).toBe(whole.indexOf('\r\n\r\n') + 3);
    expect({ ...parser.end(), body: Buffer.concat(body) }).toEqual(parseCgiResponse(whole));
  });

  test('CgiResponseStream emits head once, before any body data, then passes the body through', async () => {
    const stream = new CgiResponseStream();
    const events: string[] = [];
    stream.on('head', (head) => events.push(`head ${head.status}`));
    stream.on('data', (chunk: Buffer) => events.push(`data ${chunk.toString()}`));
    const ended = new Promise((resolve) => stream.on('end', resolve));
    for (const part of ['Status: 2', '02 Accepted\r', '\n\r', '\nab', 'c']) stream.write(text(part));
    stream.end();
    await ended;
    expect(events).toEqual(['head 202', 'data ab', 'data c']);
  });

  test('CgiResponseStream fails when stdout ends inside the header', async () => {
    const stream = new CgiResponseStream();
    const failed = new Promise((resolve) => stream.on('error', resolve));
    stream.end(text('Content-Type: text/plain\r\n'));
    stream.resume();
    expect(await failed).toMatchObject({ code: 'FCGI_CGI_RESPONSE_ERROR' });
  });
});

/** A queue whose shift() waits for the next item, and fails waiting once closed. */
class AsyncQueue<T> {
  private readonly items: T[] = [];
  private readonly waiters: Array<{ resolve: (item: T) => void; reject: (err: Error) => void }> = [];
  private closedWith: Error | undefined;

  push(item: T): void {
    const waiter = this.waiters.shift();
    if (waiter) waiter.resolve(item);
    else this.items.push(item);
  }

  shift(): Promise<T> {
    if (this.items.length > 0) return Promise.resolve(this.items.shift() as T);
    if (this.closedWith) return Promise.reject(this.closedWith);
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  close(err: Error): void {
    this.closedWith = err;
    for (const waiter of this.waiters.splice(0)) waiter.reject(err);
  }
}

interface ReceivedRequest {
  requestId: number;
  role: number;
  keepConn: boolean;
  params: Array<[string, string]>;
  paramsRecords: FastCGIRecord[];
  stdin: Buffer;
}

/** The application's end of one connection: the records the client sent, and a way to answer. */
class FakeConnection {
  readonly raw: Buffer[] = [];
  readonly records = new AsyncQueue<FastCGIRecord>();
  readonly closed: Promise<void>;
  private readonly decoder = new RecordDecoder();

  constructor(readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.raw.push(chunk);
      for (const record of this.decoder.push(chunk)) this.records.push(record);
    });
    socket.on('error', () => undefined);
    this.closed = new Promise((resolve) =>
      socket.on('close', () => {
        this.records.close(new Error('the client closed the connection'));
        resolve();
      }),
    );
  }

  next(): Promise<FastCGIRecord> {
    return this.records.shift();
  }

  send(type: number, requestId: number, content: Buffer | string = Buffer.alloc(0)): void {
    this.socket.write(encodeRecord(type, requestId, typeof content === 'string' ? text(content) : content));
  }

  /** BEGIN_REQUEST, PARAMS to the empty record, STDIN to the empty record. */
  async readRequest(): Promise<ReceivedRequest> {
    const begin = await this.next();
    expect(begin.type).toBe(RecordType.BEGIN_REQUEST);
    const paramsRecords: FastCGIRecord[] = [];
    for (let r = await this.next(); ; r = await this.next()) {
      expect([r.type, r.requestId]).toEqual([RecordType.PARAMS, begin.requestId]);
      paramsRecords.push(r);
      if (r.content.length === 0) break;
    }
    const stdin: Buffer[] = [];
    for (let r = await this.next(); ; r = await this.next()) {
      expect([r.type, r.requestId]).toEqual([RecordType.STDIN, begin.requestId]);
      if (r.content.length === 0) break;
      stdin.push(r.content);
    }
    const { role, keepConn } = decodeBeginRequest(begin.content);
    return {
      requestId: begin.requestId,
      role,
      keepConn,
      params: decodeParams(Buffer.concat(paramsRecords.map((r) => r.content))),
      paramsRecords,
      stdin: Buffer.concat(stdin),
    };
  }

  /** A complete answer: stdout, optional stderr, END_REQUEST. */
  respond(requestId: number, stdout: string, options: { stderr?: string; appStatus?: number } = {}): void {
    this.send(RecordType.STDOUT, requestId, stdout);
    this.send(RecordType.STDOUT, requestId);
    if (options.stderr !== undefined) {
      this.send(RecordType.STDERR, requestId, options.stderr);
      this.send(RecordType.STDERR, requestId);
    }
    this.send(RecordType.END_REQUEST, requestId, encodeEndRequest(options.appStatus ?? 0));
  }
}

interface FakeApp {
  path: string;
  nextConnection(): Promise<FakeConnection>;
  close(): Promise<void>;
}

/** A net.Server on a unix socket in a temp dir; each accepted connection becomes a FakeConnection. */
async function startFakeApp(options: { paused?: boolean } = {}): Promise<FakeApp> {
  const dir = makeTempDir('fcgi-client-');
  const socketPath = path.join(dir, 'app.sock');
  const connections = new AsyncQueue<FakeConnection>();
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    const connection = new FakeConnection(socket);
    if (options.paused) socket.pause(); // same tick as the 'data' listener: no byte is read before the test says so
    connections.push(connection);
  });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  return {
    path: socketPath,
    nextConnection: () => connections.shift(),
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Reads a stream to its end (attach before the data flows). */
function readAll(stream: Readable): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('end', () => resolve(Buffer.concat(chunks)));
    stream.on('error', reject);
  });
}

/** Resolves once `read()` has not changed for `turns` consecutive event-loop turns (the writer stopped). */
async function settled(read: () => number, turns = 20): Promise<number> {
  let last = read();
  for (let stable = 0; stable < turns;) {
    await new Promise((resolve) => setImmediate(resolve));
    const now = read();
    stable = now === last ? stable + 1 : 0;
    last = now;
  }
  return last;
}

describe('FastCGIClient against a fake application', () => {
  let app: FakeApp;
  const clients: FastCGIClient[] = [];

  async function connect(options: Parameters<typeof FastCGIClient.connect>[1] = {}): Promise<FastCGIClient> {
    const client = await FastCGIClient.connect({ path: app.path }, options);
    clients.push(client);
    return client;
  }

  beforeEach(async () => {
    app = await startFakeApp();
  });

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((client) => client.close()));
    await app.close();
  });

  test('sends BEGIN_REQUEST, PARAMS, empty PARAMS, STDIN, empty STDIN byte for byte, 8-byte aligned', async () => {
    const client = await connect();
    const request = client.request({
      params: [
        ['A', 'b'],
        ['SCRIPT_NAME', '/x'],
      ],
      body: 'hi',
    });
    const conn = await app.nextConnection();
    await conn.readRequest();
    const params = encodeParams([
      ['A', 'b'],
      ['SCRIPT_NAME', '/x'],
    ]);
    expect(params.length).toBe(19);
    expect(Buffer.concat(conn.raw)).toEqual(
      Buffer.concat([
        bytes(1, 1, 0, 1, 0, 8, 0, 0),
        bytes(0, 1, 0, 0, 0, 0, 0, 0),
        bytes(1, 4, 0, 1, 0, 19, 5, 0),
        params,
        Buffer.alloc(5),
        bytes(1, 4, 0, 1, 0, 0, 0, 0),
        bytes(1, 5, 0, 1, 0, 2, 6, 0),
        text('hi'),
        Buffer.alloc(6),
        bytes(1, 5, 0, 1, 0, 0, 0, 0),
      ]),
    );
    conn.respond(1, 'Content-Type: text/plain\r\n\r\nok', { stderr: 'note', appStatus: 5 });
    const response = await request.response();
    expect(response).toEqual({
      stdout: text('Content-Type: text/plain\r\n\r\nok'),
      stderr: text('note'),
      appStatus: 5,
      protocolStatus: 0,
    });
  });

  test('params over 65535 bytes go out as several PARAMS records of at most 65535 bytes', async () => {
    const client = await connect();
    const big = 'v'.repeat(150000);
    client.request({ params: { BIG: big, SMALL: 's' } });
    const conn = await app.nextConnection();
    const received = await conn.readRequest();
    const total = 1 + 4 + 3 + 150000 + (1 + 1 + 5 + 1); // BIG: 1-byte and 4-byte lengths; SMALL: 1-byte lengths
    expect(received.paramsRecords.map((r) => r.content.length)).toEqual([65535, 65535, total - 2 * 65535, 0]);
    expect(received.params).toEqual([
      ['BIG', big],
      ['SMALL', 's'],
    ]);
  });

  test('FILTER sends FCGI_DATA after the empty STDIN, ended by an empty DATA record', async () => {
    const client = await connect();
    client.request({ role: 'FILTER', body: 'in', data: Readable.from([text('da'), text('ta')]) });
    const conn = await app.nextConnection();
    const received = await conn.readRequest();
    expect([received.role, received.stdin.toString()]).toEqual([Role.FILTER, 'in']);
    const data = [await conn.next(), await conn.next(), await conn.next()];
    expect(data.map((r) => [r.type, r.content.toString()])).toEqual([
      [RecordType.DATA, 'da'],
      [RecordType.DATA, 'ta'],
      [RecordType.DATA, ''],
    ]);
  });

  test('two requests one after another on a kept connection get ids 1 and 2 and FCGI_KEEP_CONN', async () => {
    const client = await connect({ keepConn: true });
    const first = client.request({ params: { N: '1' } });
    const conn = await app.nextConnection();
    const r1 = await conn.readRequest();
    conn.respond(r1.requestId, 'one');
    expect((await first.response()).stdout.toString()).toBe('one');

    const second = client.request({ params: { N: '2' }, body: Buffer.from('body two') });
    const r2 = await conn.readRequest();
    conn.respond(r2.requestId, 'two', { appStatus: 2 });
    const response = await second.response();

    expect([r1.requestId, r1.keepConn, r2.requestId, r2.keepConn]).toEqual([1, true, 2, true]);
    expect(r2.stdin.toString()).toBe('body two');
    expect([response.stdout.toString(), response.appStatus]).toEqual(['two', 2]);
    expect(client.closed).toBe(false);
  });

  test('request ids start at firstRequestId and a requestId option overrides them', async () => {
    const client = await connect({ keepConn: true, firstRequestId: 65535 });
    const a = client.request();
    const b = client.request({ requestId: 777 });
    const c = client.request();
    expect([a.requestId, b.requestId, c.requestId]).toEqual([65535, 777, 1]);
    expect(() => client.request({ requestId: 777 })).toThrow(expect.objectContaining({ code: 'FCGI_REQUEST_ID_IN_USE' }));
  });

  test('after a request without keepConn the connection refuses another with FCGI_CONNECTION_NOT_KEPT', async () => {
    const client = await connect();
    client.request();
    expect(() => client.request()).toThrow(expect.objectContaining({ code: 'FCGI_CONNECTION_NOT_KEPT' }));
    const conn = await app.nextConnection();
    expect((await conn.readRequest()).keepConn).toBe(false);
  });

  test('abort() sends FCGI_ABORT_REQUEST, stops the body, and done still resolves with END_REQUEST', async () => {
    const client = await connect({ keepConn: true });
    const body = new PassThrough();
    const request = client.request({ body });
    const conn = await app.nextConnection();
    await conn.next(); // BEGIN_REQUEST
    await conn.next(); // empty PARAMS
    body.write('first');
    expect(await conn.next()).toMatchObject({ type: RecordType.STDIN, requestId: 1, content: text('first') });

    request.abort();
    body.write('after abort');
    expect(await conn.next()).toMatchObject({ type: RecordType.ABORT_REQUEST, requestId: 1, content: Buffer.alloc(0) });
    conn.respond(1, 'aborted', { appStatus: 7 });
    expect(await request.done).toEqual({ appStatus: 7, protocolStatus: 0 });
    body.end('and more');

    // The next record after the abort is the next request: nothing more of request 1's body was sent.
    client.request({ params: { NEXT: '1' } });
    const next = await conn.readRequest();
    expect(next.requestId).toBe(2);
    // The body stream was lent, not given: stopping early must not destroy it (an http.IncomingMessage would take
    // its socket down with it).
    expect(body.destroyed).toBe(false);
  });

  test('the application closing before END_REQUEST rejects done and stdout with FCGI_CONNECTION_CLOSED', async () => {
    const client = await connect();
    const request = client.request({ params: { A: 'b' } });
    const stdout = readAll(request.stdout);
    const conn = await app.nextConnection();
    await conn.readRequest();
    conn.send(RecordType.STDOUT, 1, 'partial');
    conn.socket.end();
    await expect(request.done).rejects.toMatchObject({
      code: 'FCGI_CONNECTION_CLOSED',
      message: expect.stringContaining('the application closed the connection before END_REQUEST for request 1'),
    });
    await expect(stdout).rejects.toMatchObject({ code: 'FCGI_CONNECTION_CLOSED' });
    await expect(request.response()).rejects.toMatchObject({ code: 'FCGI_CONNECTION_CLOSED' });
    expect(client.closed).toBe(true);
    expect(() => client.request()).toThrow(expect.objectContaining({ code: 'FCGI_CONNECTION_CLOSED' }));
  });

  test('getValues sends GET_VALUES on request id 0 and parses GET_VALUES_RESULT', async () => {
    const client = await connect();
    const values = client.getValues(['FCGI_MAX_CONNS', 'FCGI_MPXS_CONNS', 'NOT_KNOWN']);
    const conn = await app.nextConnection();
    const query = await conn.next();
    expect(query).toMatchObject({ type: RecordType.GET_VALUES, requestId: 0 });
    expect(query.content).toEqual(
      Buffer.concat([bytes(14, 0), text('FCGI_MAX_CONNS'), bytes(15, 0), text('FCGI_MPXS_CONNS'), bytes(9, 0), text('NOT_KNOWN')]),
    );
    expect(query.paddingLength).toBe(4);
    conn.send(
      RecordType.GET_VALUES_RESULT,
      0,
      encodeParams([
        ['FCGI_MAX_CONNS', '10'],
        ['FCGI_MPXS_CONNS', '1'],
      ]),
    );
    expect(await values).toEqual({ FCGI_MAX_CONNS: '10', FCGI_MPXS_CONNS: '1' });

    // Content already a multiple of 8 still gets 8 bytes of padding (libfcgi needs bytes after the content).
    const aligned = client.getValues(['FCGI_MAX_CONNS']);
    const second = await conn.next();
    expect([second.content.length, second.paddingLength]).toEqual([16, 8]);
    conn.send(RecordType.GET_VALUES_RESULT, 0, encodeParams([['FCGI_MAX_CONNS', '1']]));
    expect(await aligned).toEqual({ FCGI_MAX_CONNS: '1' });
  });

  test('getValues answered with UNKNOWN_TYPE rejects with FCGI_UNKNOWN_TYPE', async () => {
    const client = await connect();
    const values = client.getValues(['FCGI_MAX_CONNS']);
    const conn = await app.nextConnection();
    await conn.next();
    conn.send(RecordType.UNKNOWN_TYPE, 0, bytes(RecordType.GET_VALUES, 0, 0, 0, 0, 0, 0, 0));
    await expect(values).rejects.toMatchObject({ code: 'FCGI_UNKNOWN_TYPE' });
  });

  test('a 1 MiB streamed body follows backpressure: reading stops while the application does not read', async () => {
    await app.close();
    app = await startFakeApp({ paused: true });
    const client = await connect();
    const body = randomBytes(1024 * 1024);
    let produced = 0;
    async function* source(): AsyncGenerator<Buffer> {
      for (let offset = 0; offset < body.length; offset += 16384) {
        produced = offset + 16384;
        yield body.subarray(offset, offset + 16384);
      }
    }
    const request = client.request({ body: source() });
    const conn = await app.nextConnection();

    const stalledAt = await settled(() => produced);
    expect(stalledAt).toBeGreaterThan(0);
    expect(stalledAt).toBeLessThan(body.length); // without backpressure the whole body is pulled at once

    conn.socket.resume();
    const received = await conn.readRequest();
    expect(received.stdin.equals(body)).toBe(true);
    conn.respond(received.requestId, `${received.stdin.length}`);
    expect((await request.response()).stdout.toString()).toBe(String(body.length));
  });

  test('unread stdout pauses the connection at about 1 MiB; reading it lets the rest and END_REQUEST in', async () => {
    const client = await connect();
    const request = client.request();
    let ended = false;
    void request.done.then(() => (ended = true));
    const conn = await app.nextConnection();
    await conn.readRequest();
    const output = randomBytes(4 * 1024 * 1024);
    for (let offset = 0; offset < output.length; offset += 65535) {
      conn.send(RecordType.STDOUT, 1, output.subarray(offset, offset + 65535));
    }
    conn.send(RecordType.STDOUT, 1);
    conn.send(RecordType.END_REQUEST, 1, encodeEndRequest(0));

    const buffered = await settled(() => request.stdout.readableLength);
    expect(buffered).toBeGreaterThanOrEqual(1024 * 1024);
    expect(buffered).toBeLessThan(2 * 1024 * 1024);
    expect(ended).toBe(false);

    const stdout = await readAll(request.stdout);
    expect(stdout.equals(output)).toBe(true);
    expect(await request.done).toEqual({ appStatus: 0, protocolStatus: 0 });
  });

  test('a failing body source aborts the request and rejects done with FCGI_BODY_ERROR', async () => {
    const client = await connect({ keepConn: true });
    const body = new Readable({ read() {} });
    const request = client.request({ body });
    const conn = await app.nextConnection();
    await conn.next();
    await conn.next();
    body.destroy(new Error('upload interrupted'));
    expect(await conn.next()).toMatchObject({ type: RecordType.ABORT_REQUEST, requestId: 1 });
    conn.respond(1, '');
    await expect(request.done).rejects.toMatchObject({
      code: 'FCGI_BODY_ERROR',
      message: expect.stringContaining('upload interrupted'),
    });
  });

  test('silence from the application beyond timeout rejects with FCGI_TIMEOUT and closes the connection', async () => {
    const client = await connect({ timeout: 200 });
    const request = client.request();
    const conn = await app.nextConnection();
    await conn.readRequest();
    await expect(request.done).rejects.toMatchObject({
      code: 'FCGI_TIMEOUT',
      message: expect.stringContaining('END_REQUEST of request 1'),
    });
    await conn.closed;
    expect(client.closed).toBe(true);
  });

  test('close() with a request in flight rejects it with FCGI_CONNECTION_CLOSED naming close()', async () => {
    const client = await connect();
    const request = client.request();
    const conn = await app.nextConnection();
    await conn.readRequest();
    await client.close();
    await expect(request.done).rejects.toMatchObject({
      code: 'FCGI_CONNECTION_CLOSED',
      message: expect.stringContaining('close() was called before END_REQUEST for request 1'),
    });
    await conn.closed;
    expect(client.closed).toBe(true);
  });

  test('a record only a web server may send is a protocol error that fails the request', async () => {
    const client = await connect();
    const request = client.request();
    const conn = await app.nextConnection();
    await conn.readRequest();
    conn.send(RecordType.STDIN, 1, 'nonsense');
    await expect(request.done).rejects.toMatchObject({
      code: 'FCGI_PROTOCOL_ERROR',
      message: expect.stringContaining('STDIN record for request 1'),
    });
  });

  test('an HTTP server on the socket is reported as a protocol error that says so', async () => {
    const client = await connect();
    const request = client.request();
    const conn = await app.nextConnection();
    conn.socket.write('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n');
    await expect(request.done).rejects.toMatchObject({
      code: 'FCGI_PROTOCOL_ERROR',
      message: expect.stringContaining('HTTP server'),
    });
  });

  test('records for another request id do not reach the request and are returned by readRecords', async () => {
    const client = await connect();
    const request = client.request();
    const conn = await app.nextConnection();
    await conn.readRequest();
    conn.send(RecordType.STDOUT, 9, 'for someone else');
    conn.respond(1, 'mine');
    expect((await request.response()).stdout.toString()).toBe('mine');
    const { records, reason } = await client.readRecords({ timeoutMs: 0 });
    expect(reason).toBe('timeout');
    expect(records.map((r) => [r.type, r.requestId, r.content.toString()])).toEqual([[RecordType.STDOUT, 9, 'for someone else']]);
  });

  test('writeRaw sends bytes as given and readRecords collects the answer until END_REQUEST or close', async () => {
    const client = await connect();
    await client.writeRaw(Buffer.concat([encodeRecord(RecordType.BEGIN_REQUEST, 5, encodeBeginRequest(1, false))]));
    const conn = await app.nextConnection();
    expect(await conn.next()).toMatchObject({ type: RecordType.BEGIN_REQUEST, requestId: 5 });
    conn.send(RecordType.STDOUT, 5, 'raw');
    conn.send(RecordType.END_REQUEST, 5, encodeEndRequest(0));
    conn.send(RecordType.STDOUT, 5, 'late');
    const first = await client.readRecords({ until: 'end-request', requestId: 5 });
    expect(first.reason).toBe('end-request');
    expect(first.records.map((r) => r.type)).toEqual([RecordType.STDOUT, RecordType.END_REQUEST]);
    conn.socket.end();
    const rest = await client.readRecords({ until: 'close' });
    expect(rest.reason).toBe('close');
    expect(rest.records.map((r) => r.content.toString())).toEqual(['late']);
  });

  test('fcgiRequest connects, parses the CGI response and closes', async () => {
    const result = fcgiRequest({ path: app.path }, { params: { REQUEST_METHOD: 'GET' } });
    const conn = await app.nextConnection();
    const received = await conn.readRequest();
    expect(received.params).toEqual([['REQUEST_METHOD', 'GET']]);
    conn.respond(1, 'Status: 418 Teapot\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n\r\nshort and stout', {
      stderr: 'steam',
    });
    expect(await result).toEqual({
      status: 418,
      statusText: 'Teapot',
      headers: [
        ['Set-Cookie', 'a=1'],
        ['Set-Cookie', 'b=2'],
      ],
      body: text('short and stout'),
      stderr: text('steam'),
      appStatus: 0,
    });
    await conn.closed;
  });

  test('fcgiRequest turns a rejected request (UNKNOWN_ROLE) into an error with that code', async () => {
    const result = fcgiRequest({ path: app.path }, { role: 99 });
    const conn = await app.nextConnection();
    const received = await conn.readRequest();
    expect(received.role).toBe(99);
    conn.send(RecordType.END_REQUEST, 1, encodeEndRequest(0, ProtocolStatus.UNKNOWN_ROLE));
    await expect(result).rejects.toMatchObject({ code: 'FCGI_UNKNOWN_ROLE' });
  });

  test('bad request options are TypeError/RangeError naming the option; CR/LF in params is fine', async () => {
    const client = await connect({ keepConn: true });
    expect(() => client.request({ requestId: 0 })).toThrow(RangeError);
    expect(() => client.request({ requestId: 65536 })).toThrow(/requestId/);
    expect(() => client.request({ role: 'BOSS' as 'RESPONDER' })).toThrow(/role/);
    expect(() => client.request({ params: [[notAString, 'x']] })).toThrow(/params\[0\] name/);
    expect(() => client.request({ body: 42 as unknown as string })).toThrow(/body/);
    expect(() => client.request({ data: 'x' })).toThrow(/FILTER/);
    expect(() => client.request({ keepConn: 'yes' as unknown as boolean })).toThrow(/keepConn/);
    await expect(client.getValues([1 as unknown as string])).rejects.toThrow(/names\[0\]/);
    const request = client.request({ params: { HTTP_X: 'a\r\nb\n' } });
    const conn = await app.nextConnection();
    expect((await conn.readRequest()).params).toEqual([['HTTP_X', 'a\r\nb\n']]);
    expect(request.requestId).toBe(1); // the refused calls used no id
  });

  test('connect failures keep Node codes; bad targets and options are TypeError/RangeError', async () => {
    const missing = path.join(path.dirname(app.path), 'missing.sock');
    await expect(FastCGIClient.connect({ path: missing })).rejects.toMatchObject({ code: 'ENOENT' });
    const closedPort = await new Promise<number>((resolve) => {
      const server = net.createServer().listen(0, '127.0.0.1', () => {
        const { port } = server.address() as net.AddressInfo;
        server.close(() => resolve(port));
      });
    });
    await expect(FastCGIClient.connect({ port: closedPort })).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    await expect(FastCGIClient.connect({ port: 70000 })).rejects.toThrow(/port/);
    await expect(FastCGIClient.connect({ path: '' })).rejects.toThrow(TypeError);
    await expect(FastCGIClient.connect({ path: app.path }, { timeout: -5 })).rejects.toThrow(/timeout/);
  });
});

describe('requestRejection: the END_REQUEST protocolStatus as an error code', () => {
  test('REQUEST_COMPLETE is no error; each rejection has its code; a status the spec lacks is FCGI_REQUEST_REJECTED', () => {
    expect(requestRejection(ProtocolStatus.REQUEST_COMPLETE)).toBeUndefined();
    expect(requestRejection(ProtocolStatus.CANT_MPX_CONN)?.code).toBe('FCGI_CANT_MPX_CONN');
    expect(requestRejection(ProtocolStatus.OVERLOADED)?.code).toBe('FCGI_OVERLOADED');
    expect(requestRejection(ProtocolStatus.UNKNOWN_ROLE)?.code).toBe('FCGI_UNKNOWN_ROLE');
    const odd = requestRejection(9);
    expect(odd?.code).toBe('FCGI_REQUEST_REJECTED');
    expect(odd?.message).toMatch(/protocolStatus 9/);
  });
});
