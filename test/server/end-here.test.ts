// The end of a request on the JS thread (ServerIo::EndOnJsThread, native/fast_end.cc; patch 0018): a handler that finishes in its synchronous
// part has its response and END_REQUEST sent by one non-blocking sendmsg from the JS thread. These are the cases
// where that cannot finish the job alone, on kept connections spoken to byte by byte: a peer that does not read
// (a thread sends the rest), a body whose end is not there yet, a management record among the request's records,
// and a pipelined next request (a thread reads it). Each must give exact answers, keep the connection usable and
// leave the server answering others meanwhile.
import net from 'net';
import path from 'path';
import { FastCGIClient } from '../../lib/client';
import { parseCgiResponse } from '../../lib/client/cgi-response';
import { RecordDecoder } from '../../lib/client/record-decoder';
import {
  encodeBeginRequest,
  encodeParams,
  encodeRecord,
  encodeStreamRecords,
  RecordType,
  Role,
  type FastCGIRecord,
} from '../../lib/client/protocol';
import { fixture, startApp } from '../helpers/app-process';
import { closeAfterAll } from '../helpers/cleanup';
import { tempDir } from '../helpers/tmp';

jest.setTimeout(60000);

/** A kept FastCGI connection spoken to record by record; records are collected as they arrive. */
class RawConnection {
  readonly records: FastCGIRecord[] = [];
  private readonly decoder = new RecordDecoder();
  private readonly waiters: Array<() => void> = [];
  private closed = false;

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.records.push(...this.decoder.push(chunk));
      this.wake();
    });
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
    socket.on('error', () => undefined); // surfaces as 'close'
  }

  static open(socketPath: string): Promise<RawConnection> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(socketPath);
      socket.once('connect', () => resolve(new RawConnection(socket)));
      socket.once('error', reject);
    });
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  /** Resolves once `count` END_REQUEST records for `requestId` arrived; rejects on close or after timeoutMs. */
  async ended(requestId: number, count = 1, timeoutMs = 20000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const n = this.records.filter((r) => r.type === RecordType.END_REQUEST && r.requestId === requestId).length;
      if (n >= count) return;
      if (this.closed) throw new Error(`connection closed after ${n} END_REQUEST record(s) for request ${requestId}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no END_REQUEST for request ${requestId} within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** The stdout of request `requestId` (every STDOUT record so far), parsed as a CGI response. */
  response(requestId: number) {
    const out = this.records.filter((r) => r.type === RecordType.STDOUT && r.requestId === requestId);
    return parseCgiResponse(Buffer.concat(out.map((r) => r.content)));
  }

  close(): void {
    this.socket.destroy();
  }
}

/** BEGIN_REQUEST (keep-conn) and PARAMS of a GET for `uri`; the caller sends FCGI_STDIN. */
function head(requestId: number, uri: string, query = ''): Buffer {
  const params = encodeParams({ REQUEST_METHOD: 'GET', DOCUMENT_URI: uri, QUERY_STRING: query, SERVER_PROTOCOL: 'HTTP/1.1' });
  return Buffer.concat([
    encodeRecord(RecordType.BEGIN_REQUEST, requestId, encodeBeginRequest(Role.RESPONDER, true)),
    encodeStreamRecords(RecordType.PARAMS, requestId, params),
  ]);
}

const stdinEnd = (requestId: number) => encodeRecord(RecordType.STDIN, requestId);

function expectedBytes(n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = i % 251;
  return b;
}

describe('concurrent server: ends finished on the JS thread, and what it hands to a thread', () => {
  const track = closeAfterAll();
  let socketPath: string;

  beforeAll(async () => {
    const dir = track(tempDir('fcgi-end-here-'));
    socketPath = path.join(dir.path, 'app.sock');
    track(await startApp(fixture('server-app.ts'), { listen: { path: socketPath } }));
  });

  async function instant(): Promise<string> {
    const client = await FastCGIClient.connect({ path: socketPath }, { timeout: 10000 });
    try {
      const { stdout } = await client
        .request({ params: { REQUEST_METHOD: 'GET', DOCUMENT_URI: '/instant', SERVER_PROTOCOL: 'HTTP/1.1' } })
        .response();
      return parseCgiResponse(stdout).body.toString();
    } finally {
      await client.close();
    }
  }

  test('a peer that does not read: the answer the socket cannot take arrives exact later, others are served meanwhile, the connection stays usable', async () => {
    const conn = await RawConnection.open(socketPath);
    try {
      // Just under what FCGX_PutStrCloseV takes (4 records): more than a unix socket holds while nobody reads.
      const n = 4 * 65528 - 200;
      conn.socket.pause();
      conn.socket.write(Buffer.concat([head(1, '/bytes', `n=${n}`), stdinEnd(1)]));
      // While that answer waits for the peer, the server answers other connections (the JS thread is free).
      for (let i = 0; i < 3; i++) expect(await instant()).toBe('ok');
      expect(conn.records).toHaveLength(0); // nothing read yet: the answer really is waiting
      conn.socket.resume();
      await conn.ended(1);
      const answer = conn.response(1);
      expect(answer.status).toBe(200);
      expect(answer.body.equals(expectedBytes(n))).toBe(true);
      expect(conn.records.at(-1)?.type).toBe(RecordType.END_REQUEST);
      // The same connection serves the next request.
      conn.socket.write(Buffer.concat([head(2, '/instant'), stdinEnd(2)]));
      await conn.ended(2);
      expect(conn.response(2).body.toString()).toBe('ok');
    } finally {
      conn.close();
    }
  });

  test('a body whose end has not arrived when the handler returns: the answer follows the end, and the connection goes on', async () => {
    const conn = await RawConnection.open(socketPath);
    try {
      // /instant does not read its body; the body's first record comes with the request, its end later.
      conn.socket.write(Buffer.concat([head(1, '/instant'), encodeRecord(RecordType.STDIN, 1, Buffer.from('unread body'))]));
      // Served meanwhile: nothing waits on this connection's missing bytes but its own answer.
      expect(await instant()).toBe('ok');
      conn.socket.write(Buffer.concat([encodeRecord(RecordType.STDIN, 1, Buffer.from('more')), stdinEnd(1)]));
      await conn.ended(1);
      expect(conn.response(1).body.toString()).toBe('ok');
      conn.socket.write(Buffer.concat([head(2, '/bytes', 'n=70000'), stdinEnd(2)]));
      await conn.ended(2);
      expect(conn.response(2).body.equals(expectedBytes(70000))).toBe(true);
    } finally {
      conn.close();
    }
  });

  test('a management record between the params and the end of FCGI_STDIN is answered, then the response', async () => {
    const conn = await RawConnection.open(socketPath);
    try {
      conn.socket.write(
        Buffer.concat([head(1, '/instant'), encodeRecord(RecordType.GET_VALUES, 0, encodeParams({ FCGI_MPXS_CONNS: '' })), stdinEnd(1)]),
      );
      await conn.ended(1);
      const types = conn.records.map((r) => r.type);
      expect(types).toContain(RecordType.GET_VALUES_RESULT);
      expect(types.at(-1)).toBe(RecordType.END_REQUEST);
      expect(conn.response(1).body.toString()).toBe('ok');
      conn.socket.write(Buffer.concat([head(2, '/instant'), stdinEnd(2)]));
      await conn.ended(2);
      expect(conn.response(2).body.toString()).toBe('ok');
    } finally {
      conn.close();
    }
  });

  test('pipelined requests in one write: each answered in order, exact', async () => {
    const conn = await RawConnection.open(socketPath);
    try {
      const sizes = [13, 9000, 65536, 100];
      conn.socket.write(Buffer.concat(sizes.map((n, i) => Buffer.concat([head(i + 1, '/bytes', `n=${n}`), stdinEnd(i + 1)]))));
      for (let i = 0; i < sizes.length; i++) await conn.ended(i + 1);
      sizes.forEach((n, i) => expect(conn.response(i + 1).body.equals(expectedBytes(n))).toBe(true));
      const ends = conn.records.filter((r) => r.type === RecordType.END_REQUEST).map((r) => r.requestId);
      expect(ends).toEqual([1, 2, 3, 4]);
    } finally {
      conn.close();
    }
  });
});
