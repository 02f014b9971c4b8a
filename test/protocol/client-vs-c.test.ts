// The client against a real C FastCGI application built on the system libfcgi (test/fixtures/c/echo.c).
import { type ChildProcess, spawn } from 'child_process';
import { randomBytes } from 'crypto';
import fs from 'fs';
import path from 'path';
import { FastCGIClient, Role, fcgiRequest } from '../../lib/client';
import { describeWithBinaries, run, underCI } from '../helpers/binaries';
import { makeTempDir } from '../helpers/tmp';

const FIXTURE = path.join(__dirname, '..', 'fixtures', 'c', 'echo.c');
const LIBFCGI_HEADER = '/usr/include/fcgiapp.h';
const READY_DEADLINE_MS = 5000;

/** describeWithBinaries(['gcc']), and the same skip-or-fail treatment when libfcgi's headers are missing. */
function describeWithLibfcgi(): jest.Describe {
  const withGcc = describeWithBinaries(['gcc']);
  if (fs.existsSync(LIBFCGI_HEADER)) return withGcc;
  const message = `missing ${LIBFCGI_HEADER} (install libfcgi-dev)`;
  if (underCI) {
    return ((title: string) =>
      describe(title, () => {
        test(message, () => {
          throw new Error(`${message}; under CI=true this is a failure, not a skip`);
        });
      })) as unknown as jest.Describe;
  }
  console.warn(`skipping: ${message}`);
  return describe.skip;
}

interface EchoApp {
  socketPath: string;
  close(): Promise<void>;
}

/** Starts the echo binary and resolves once its socket accepts connections (bounded retries with backoff). */
async function startEchoApp(binary: string, dir: string): Promise<EchoApp> {
  const socketPath = path.join(dir, 'echo.sock');
  const child: ChildProcess = spawn(binary, [socketPath], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.once('error', (err) => {
      stderr += `spawn failed: ${err.message}`;
      resolve();
    });
  });
  const close = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  };
  let exitedEarly = false;
  void exited.then(() => (exitedEarly = true));

  const deadline = Date.now() + READY_DEADLINE_MS;
  for (let delay = 5; ; delay = Math.min(delay * 2, 200)) {
    try {
      const probe = await FastCGIClient.connect({ path: socketPath });
      await probe.close();
      return { socketPath, close };
    } catch (err) {
      if (exitedEarly || Date.now() + delay > deadline) {
        await close();
        throw new Error(`the echo app did not accept connections on ${socketPath}: ${String(err)}; its stderr: ${stderr}`);
      }
      await new Promise((resolve) => setTimeout(resolve, delay)); // backoff between connect attempts, not a sync point
    }
  }
}

/** The echo app's stdout body: params as received, then the body (and FILTER data). */
function splitEcho(body: Buffer, filter = false): { params: string; stdin: Buffer; data: Buffer | undefined } {
  const bodyMark = body.indexOf('--body--\n');
  expect(bodyMark).toBeGreaterThanOrEqual(0);
  const rest = body.subarray(bodyMark + '--body--\n'.length);
  const dataMark = filter ? rest.indexOf('--data--\n') : -1;
  if (filter) expect(dataMark).toBeGreaterThanOrEqual(0);
  return {
    params: body.subarray(0, bodyMark).toString('latin1'),
    stdin: dataMark < 0 ? rest : rest.subarray(0, dataMark),
    data: dataMark < 0 ? undefined : rest.subarray(dataMark + '--data--\n'.length),
  };
}

const header = (headers: Array<[string, string]>, name: string) => headers.find(([n]) => n === name)?.[1];

describeWithLibfcgi()('FastCGIClient against a C application on the system libfcgi', () => {
  let dir: string;
  let app: EchoApp | undefined;
  const clients: FastCGIClient[] = [];

  async function connect(keepConn = false): Promise<FastCGIClient> {
    const client = await FastCGIClient.connect({ path: (app as EchoApp).socketPath }, { keepConn, timeout: 10000 });
    clients.push(client);
    return client;
  }

  beforeAll(async () => {
    dir = makeTempDir('fcgi-c-');
    const binary = path.join(dir, 'echo');
    run('gcc', ['-O2', '-Wall', '-Wextra', '-Werror', '-o', binary, FIXTURE, '-lfcgi']);
    app = await startEchoApp(binary, dir);
  });

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((client) => client.close()));
  });

  afterAll(async () => {
    await app?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  test('a GET request delivers every param, CR/LF in a value included, and gets the CGI response', async () => {
    const params: Array<[string, string]> = [
      ['REQUEST_METHOD', 'GET'],
      ['QUERY_STRING', 'a=1&b=%20'],
      ['SCRIPT_NAME', '/echo'],
      ['HTTP_X_MULTILINE', 'line1\r\nline2'],
      ['EMPTY', ''],
    ];
    const result = await fcgiRequest({ path: (app as EchoApp).socketPath }, { params });
    expect(result.status).toBe(200);
    expect(result.headers).toEqual([
      ['Content-Type', 'text/plain'],
      ['X-Request-Id', '1'],
      ['X-Keep-Conn', '0'],
      ['X-Role', String(Role.RESPONDER)],
    ]);
    const echo = splitEcho(result.body);
    // libfcgi puts FCGI_ROLE first, then the params in the order they were sent.
    expect(echo.params).toBe(`FCGI_ROLE=RESPONDER\n${params.map(([name, value]) => `${name}=${value}\n`).join('')}`);
    expect(echo.stdin.length).toBe(0);
    expect([result.stderr.length, result.appStatus]).toEqual([0, 0]);
  });

  test('a 1 MiB POST body comes back byte-exact', async () => {
    const body = randomBytes(1024 * 1024);
    const client = await connect();
    const request = client.request({
      params: { REQUEST_METHOD: 'POST', CONTENT_LENGTH: String(body.length) },
      body,
    });
    const { stdout, stderr, appStatus, protocolStatus } = await request.response();
    const headerEnd = stdout.indexOf('\r\n\r\n') + 4;
    const echo = splitEcho(stdout.subarray(headerEnd));
    expect(echo.stdin.length).toBe(body.length);
    expect(echo.stdin.equals(body)).toBe(true);
    expect([stderr.length, appStatus, protocolStatus]).toEqual([0, 0, 0]);
  });

  test('a streamed body (async iterable, odd chunk sizes) arrives byte-exact', async () => {
    const body = randomBytes(300000);
    async function* chunks(): AsyncGenerator<Uint8Array> {
      for (let offset = 0, size = 1; offset < body.length; offset += size, size = (size * 7 + 3) % 90001) {
        yield new Uint8Array(body.buffer, body.byteOffset + offset, Math.min(size, body.length - offset));
      }
    }
    const client = await connect();
    const { stdout } = await client.request({ body: chunks() }).response();
    expect(splitEcho(stdout.subarray(stdout.indexOf('\r\n\r\n') + 4)).stdin.equals(body)).toBe(true);
  });

  test('FCGI_STDERR output arrives on the stderr stream and not in stdout', async () => {
    const client = await connect();
    const request = client.request({ params: { WANT_STDERR: 'something went sideways' } });
    const stderrChunks: Buffer[] = [];
    request.stderr.on('data', (chunk: Buffer) => stderrChunks.push(chunk));
    const stderrEnded = new Promise((resolve) => request.stderr.on('end', resolve));
    const { stdout } = await request.response();
    await stderrEnded;
    expect(Buffer.concat(stderrChunks).toString()).toBe('stderr: something went sideways\n');
    expect(stdout.includes('stderr:')).toBe(false);
  });

  test("END_REQUEST carries the application's exit status", async () => {
    const client = await connect();
    expect(await client.request({ params: { EXIT_STATUS: '3' } }).done).toEqual({ appStatus: 3, protocolStatus: 0 });
  });

  test('getValues returns FCGI_MAX_CONNS, FCGI_MAX_REQS and FCGI_MPXS_CONNS and omits unknown names', async () => {
    const client = await connect();
    const values = await client.getValues(['FCGI_MAX_CONNS', 'FCGI_MAX_REQS', 'FCGI_MPXS_CONNS', 'NOT_A_VARIABLE']);
    expect(values).toEqual({ FCGI_MAX_CONNS: '1', FCGI_MAX_REQS: '1', FCGI_MPXS_CONNS: '0' });
  });

  test('two requests one after another on one kept connection', async () => {
    const client = await connect(true);
    const first = await client.request({ params: { N: 'first' }, body: 'one' }).response();
    const second = await client.request({ params: { N: 'second' }, body: 'two' }).response();
    const [a, b] = [first, second].map(({ stdout }) => {
      const headerEnd = stdout.indexOf('\r\n\r\n');
      return { head: stdout.subarray(0, headerEnd).toString(), echo: splitEcho(stdout.subarray(headerEnd + 4)) };
    });
    expect(a.head).toContain('X-Request-Id: 1\r\nX-Keep-Conn: 1');
    expect(b.head).toContain('X-Request-Id: 2\r\nX-Keep-Conn: 1');
    expect([a.echo.params, a.echo.stdin.toString()]).toEqual(['FCGI_ROLE=RESPONDER\nN=first\n', 'one']);
    expect([b.echo.params, b.echo.stdin.toString()]).toEqual(['FCGI_ROLE=RESPONDER\nN=second\n', 'two']);
    expect(client.closed).toBe(false);
  });

  test('a 100 KB param value (4-byte length, several PARAMS records) and a 200-byte name arrive intact', async () => {
    const value = randomBytes(75 * 1024).toString('base64'); // 100 KiB of printable bytes
    const longName = `X_${'N'.repeat(198)}`;
    const result = await fcgiRequest(
      { path: (app as EchoApp).socketPath },
      {
        params: [
          ['BIG', value],
          [longName, 'short'],
        ],
      },
    );
    expect(value.length).toBe(100 * 1024);
    const got = splitEcho(result.body).params;
    const expected = `FCGI_ROLE=RESPONDER\nBIG=${value}\n${longName}=short\n`;
    // Compared as a summary: a failing 100 KB string diff would drown the report.
    expect({ length: got.length, equal: got === expected }).toEqual({ length: expected.length, equal: true });
  });

  test('a FILTER request delivers FCGI_DATA after the body', async () => {
    const data = randomBytes(100000);
    const result = await fcgiRequest(
      { path: (app as EchoApp).socketPath },
      { role: 'FILTER', params: { FCGI_DATA_LENGTH: String(data.length) }, body: 'stdin part', data },
    );
    expect(header(result.headers, 'X-Role')).toBe(String(Role.FILTER));
    const echo = splitEcho(result.body, true);
    expect(echo.stdin.toString()).toBe('stdin part');
    expect(echo.data?.equals(data)).toBe(true);
  });
});
