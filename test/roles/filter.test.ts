// The FILTER role: FCGI_DATA (the file to filter) after the body, in the accept loop (readData()) and the
// concurrent server (req.data), through the package's own client and by raw records. No web server sends FILTER.
import crypto from 'crypto';
import path from 'path';
import { FastCGIClient, parseCgiResponse, type RequestOptions } from '../../lib/client';
import { example, fixture, startApp, type AppProcess } from '../helpers/app-process';
import { begin, describeRecords, RawConnection, RecordType, stream } from '../protocol/harness';
import { encodeParams } from '../../lib/client';
import { makeTempDir } from '../helpers/tmp';

interface FilterAnswer {
  role: string;
  body: string;
  data: string;
  dataLength?: string;
  lastMod?: string;
}

describe.each(['sync', 'server'])('FILTER role (%s)', (kind) => {
  let app: AppProcess;
  let socketPath: string;

  beforeAll(async () => {
    socketPath = path.join(makeTempDir('fcgi-filter-'), 'app.sock');
    app = await startApp(fixture('roles-app.ts'), { listen: { path: socketPath }, env: { APP_KIND: kind } });
  });
  afterAll(async () => {
    await app?.close();
  });

  async function filter(client: FastCGIClient, uri: string, options: RequestOptions): Promise<FilterAnswer> {
    const { stdout } = await client.request({ role: 'FILTER', ...options, params: { REQUEST_URI: uri, ...options.params } }).response();
    return JSON.parse(parseCgiResponse(stdout).body.toString()) as FilterAnswer;
  }

  async function once(uri: string, options: RequestOptions): Promise<FilterAnswer> {
    const client = await FastCGIClient.connect({ path: socketPath }, { timeout: 10000 });
    try {
      return await filter(client, uri, options);
    } finally {
      await client.close();
    }
  }

  test('the body and then the data arrive whole, with FCGI_DATA_LENGTH and FCGI_DATA_LAST_MOD in env', async () => {
    const data = crypto.randomBytes(200_000).toString('hex'); // 400 KB: many records, backpressure on the stream
    const answer = await once('/doc.md', {
      params: { FCGI_DATA_LENGTH: String(data.length), FCGI_DATA_LAST_MOD: '1700000000', CONTENT_LENGTH: '5' },
      body: 'q=abc',
      data,
    });
    expect(answer).toEqual({ role: 'FILTER', body: 'q=abc', data, dataLength: String(data.length), lastMod: '1700000000' });
  });

  test('empty data: the data reads as empty and the request is answered', async () => {
    const answer = await once('/empty', { params: { FCGI_DATA_LENGTH: '0' }, body: 'b' });
    expect(answer).toMatchObject({ body: 'b', data: '', dataLength: '0' });
  });

  test('data longer than FCGI_DATA_LENGTH: the app gets all of it (the stream goes on past the declared length)', async () => {
    const answer = await once('/over', { params: { FCGI_DATA_LENGTH: '3' }, data: 'abcdefgh' });
    expect(answer).toMatchObject({ data: 'abcdefgh', dataLength: '3' });
  });

  test('reading the data before the body skips the rest of the body (the web server sends the data after it)', async () => {
    const answer = await once('/data-first', { body: 'unread body', data: 'the file' });
    expect(answer).toMatchObject({ body: '', data: 'the file' });
  });

  test('an app that never reads the data is answered, and the kept connection serves the next request', async () => {
    const client = await FastCGIClient.connect({ path: socketPath }, { timeout: 10000, keepConn: true });
    try {
      const ignored = await filter(client, '/ignore-data', { body: 'x'.repeat(100_000), data: 'y'.repeat(300_000) });
      expect(ignored).toMatchObject({ body: '', data: '' });
      const next = await filter(client, '/next', { body: 'second', data: 'file 2' });
      expect(next).toMatchObject({ body: 'second', data: 'file 2' });
    } finally {
      await client.close();
    }
  });

  test('a RESPONDER has no data: readData()/req.data are empty', async () => {
    const client = await FastCGIClient.connect({ path: socketPath }, { timeout: 10000 });
    try {
      const { stdout } = await client.request({ params: { REQUEST_URI: '/responder' }, body: 'plain' }).response();
      expect(JSON.parse(parseCgiResponse(stdout).body.toString())).toMatchObject({ role: 'RESPONDER', body: 'plain' });
    } finally {
      await client.close();
    }
  });

  test('raw records: data records sent while the body is still coming are answered and end the request', async () => {
    // fcgi2 reads the streams in order; DATA interleaved with STDIN is out of order. The request must still be
    // answered (an END_REQUEST), never hang, and the app goes on serving.
    const conn = await RawConnection.connect(socketPath);
    try {
      await conn.write(
        Buffer.concat([
          begin(1, { role: 3 }),
          stream(RecordType.PARAMS, 1, encodeParams({ REQUEST_URI: '/interleaved' })),
          stream(RecordType.STDIN, 1, Buffer.from('ab'), { end: false }),
          stream(RecordType.DATA, 1, Buffer.from('xy'), { end: false }),
          stream(RecordType.STDIN, 1, Buffer.from('cd')),
          stream(RecordType.DATA, 1, Buffer.alloc(0)),
        ]),
      );
      const ended = await conn.waitFor(() => conn.endRequests(1).length === 1 || conn.closed);
      expect({ ended, records: describeRecords(conn) }).toMatchObject({ ended: true });
    } finally {
      conn.destroy();
    }
    const after = await once('/after', { body: 'ok', data: 'fine' });
    expect(after).toMatchObject({ body: 'ok', data: 'fine' });
  });

  (kind === 'server' ? test : test.skip)(
    'data still coming when the app answers: other requests are served meanwhile (concurrent server), and the answer ends once the data did',
    async () => {
      const conn = await RawConnection.connect(socketPath);
      try {
        await conn.write(
          Buffer.concat([
            begin(1, { role: 3, keepConn: true }),
            stream(RecordType.PARAMS, 1, encodeParams({ REQUEST_URI: '/ignore-data' })),
            stream(RecordType.STDIN, 1, Buffer.alloc(0)),
            stream(RecordType.DATA, 1, Buffer.from('first part of the file'), { end: false }),
          ]),
        );
        // The unread data is skipped before END_REQUEST (as an unread body is), on a worker thread: in the
        // concurrent server the JS thread never waits for it, so this request on another connection is answered.
        const other = await once('/other', { body: 'b', data: 'd' });
        expect(other).toMatchObject({ body: 'b', data: 'd' });
        await conn.write(stream(RecordType.DATA, 1, Buffer.from(' and the rest')));
        expect(await conn.waitForEnds(1)).toBe(true);
      } finally {
        conn.destroy();
      }
    },
  );

  test('raw records: data sent after the body has ended, in odd record splits', async () => {
    const conn = await RawConnection.connect(socketPath);
    try {
      await conn.write(
        Buffer.concat([
          begin(1, { role: 3 }),
          stream(RecordType.PARAMS, 1, encodeParams({ REQUEST_URI: '/split' })),
          stream(RecordType.STDIN, 1, Buffer.from('body!'), { chunk: 2 }),
          stream(RecordType.DATA, 1, Buffer.from('the data stream'), { chunk: 3 }),
        ]),
      );
      expect(await conn.waitForEnds(1)).toBe(true);
      const stdout = Buffer.concat(conn.recordsOf(RecordType.STDOUT).map((r) => r.content));
      expect(JSON.parse(parseCgiResponse(stdout).body.toString())).toMatchObject({ body: 'body!', data: 'the data stream' });
    } finally {
      conn.destroy();
    }
  });
});

describe('examples/filter-markdown.ts', () => {
  let app: AppProcess | undefined;
  afterAll(async () => {
    await app?.close();
  });

  test('answers the FCGI_DATA file as HTML, with Last-Modified from FCGI_DATA_LAST_MOD', async () => {
    const socketPath = path.join(makeTempDir('fcgi-md-'), 'filter.sock');
    app = await startApp(example('filter-markdown.ts'), { listen: { path: socketPath } });
    const markdown = '# Title\n\nSome *emphasis* and `code` <b>.\n';
    const client = await FastCGIClient.connect({ path: socketPath }, { timeout: 10000 });
    try {
      const { stdout } = await client
        .request({
          role: 'FILTER',
          params: { REQUEST_URI: '/doc.md', FCGI_DATA_LENGTH: String(markdown.length), FCGI_DATA_LAST_MOD: '1700000000' },
          data: markdown,
        })
        .response();
      const r = parseCgiResponse(stdout);
      expect(r.body.toString()).toBe('<!doctype html>\n<h1>Title</h1>\n<p>Some <em>emphasis</em> and <code>code</code> &lt;b&gt;.</p>\n');
      expect(r.headers).toContainEqual(['Last-Modified', 'Tue, 14 Nov 2023 22:13:20 GMT']);
    } finally {
      await client.close();
    }
  });
});
