// `libfcgi request` against a running app (test/fixtures/cli-app.ts): output, params, bodies, exit codes, errors.
import { createHash, randomBytes } from 'crypto';
import fs from 'fs';
import path from 'path';
import { closeAfterEach } from '../helpers/cleanup';
import { startProcess } from '../helpers/process';
import { makeTempDir } from '../helpers/tmp';
import { ROOT, runCli, startFixtureApp, type FixtureAnswer, type FixtureApp } from './cli';

/** Splits `libfcgi request` output into status line, header fields and body. */
function parseOutput(stdout: Buffer): { statusLine: string; headers: Array<[string, string]>; body: Buffer } {
  const end = stdout.indexOf('\r\n\r\n');
  expect(end).toBeGreaterThan(0);
  const [statusLine, ...lines] = stdout.subarray(0, end).toString('latin1').split('\r\n');
  const headers = lines.map((line): [string, string] => {
    const colon = line.indexOf(': ');
    return [line.slice(0, colon), line.slice(colon + 2)];
  });
  return { statusLine, headers, body: stdout.subarray(end + 4) };
}

const md5 = (bytes: Buffer) => createHash('md5').update(bytes).digest('hex');

describe('libfcgi request against a running app', () => {
  let dir: string;
  let app: FixtureApp;

  beforeAll(async () => {
    dir = makeTempDir('fcgi-cli-');
    app = await startFixtureApp(path.join(dir, 'app.sock'));
  });
  afterAll(async () => {
    await app?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('prints the status line, header fields and body, and exits 0', async () => {
    const result = await runCli(['request', '--connect', app.socketPath, '/hello/world?x=1&y=%20z']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const { statusLine, headers, body } = parseOutput(result.stdout);
    expect(statusLine).toBe('HTTP/1.1 200 OK');
    expect(headers).toEqual([['Content-Type', 'application/json']]);
    const answer = JSON.parse(body.toString()) as FixtureAnswer;
    expect(answer.pid).toBe(app.process.pid);
    expect(answer.env).toMatchObject({
      FCGI_ROLE: 'RESPONDER',
      REQUEST_METHOD: 'GET',
      REQUEST_URI: '/hello/world?x=1&y=%20z',
      DOCUMENT_URI: '/hello/world',
      SCRIPT_NAME: '/hello/world',
      PATH_INFO: '',
      QUERY_STRING: 'x=1&y=%20z',
      CONTENT_LENGTH: '',
      CONTENT_TYPE: '',
      SERVER_PROTOCOL: 'HTTP/1.1',
      GATEWAY_INTERFACE: 'CGI/1.1',
      SERVER_SOFTWARE: expect.stringMatching(/^libfcgi\/\d+\.\d+\.\d+/),
      REMOTE_ADDR: '127.0.0.1',
      HTTP_HOST: 'localhost',
      DOCUMENT_ROOT: ROOT,
      SCRIPT_FILENAME: `${ROOT}/hello/world`,
    });
  });

  test('--header becomes HTTP_*, --param sets or removes params, --script-name splits PATH_INFO', async () => {
    const result = await runCli([
      'request',
      '-c',
      app.socketPath,
      '--header',
      'X-Trace-Id: abc 123',
      '-H',
      'Cookie: a=1',
      '--param',
      'APP_MODE=test',
      '--param',
      'REMOTE_ADDR=10.0.0.7',
      '--param',
      'REDIRECT_STATUS',
      '--script-name',
      '/app',
      '--body-only',
      '/app/users/7',
    ]);
    expect(result.code).toBe(0);
    const { env } = JSON.parse(result.stdout.toString()) as FixtureAnswer;
    expect(env).toMatchObject({
      HTTP_X_TRACE_ID: 'abc 123',
      HTTP_COOKIE: 'a=1',
      APP_MODE: 'test',
      REMOTE_ADDR: '10.0.0.7',
      SCRIPT_NAME: '/app',
      PATH_INFO: '/users/7',
    });
    expect(env).not.toHaveProperty('REDIRECT_STATUS');
  });

  test('text typed on the command line goes out as UTF-8 bytes, as curl sends it: path, query, headers, --script-name', async () => {
    const result = await runCli([
      'request',
      '-c',
      app.socketPath,
      '-H',
      'X-Name: wörld ✓',
      '--script-name',
      '/café',
      '--body-only',
      '/café/ö%20x?q=é',
    ]);
    expect(result.code).toBe(0);
    // env holds the bytes the client sent, one char per byte (README: "Values in env are byte strings").
    const { env } = JSON.parse(result.stdout.toString()) as FixtureAnswer;
    const utf8 = Object.fromEntries(Object.entries(env).map(([name, value]) => [name, Buffer.from(value, 'latin1').toString('utf8')]));
    expect(utf8).toMatchObject({
      REQUEST_URI: '/café/ö%20x?q=é',
      DOCUMENT_URI: '/café/ö x',
      QUERY_STRING: 'q=é',
      SCRIPT_NAME: '/café',
      PATH_INFO: '/ö x',
      HTTP_X_NAME: 'wörld ✓',
    });
  });

  test('--body-only prints the body alone', async () => {
    const result = await runCli(['request', '--connect', app.socketPath, '--body-only', '/x?size=100000']);
    expect(result.code).toBe(0);
    expect(result.stdout.equals(Buffer.alloc(100000, 'x'))).toBe(true);
  });

  test('POST --data @file sends the file byte-exact with CONTENT_LENGTH and a default CONTENT_TYPE', async () => {
    const file = path.join(dir, 'upload.bin');
    const bytes = randomBytes(1024 * 1024 + 17);
    fs.writeFileSync(file, bytes);
    const result = await runCli(['request', '-c', app.socketPath, '--data', `@${file}`, '-b', '/upload']);
    expect(result.code).toBe(0);
    const answer = JSON.parse(result.stdout.toString()) as FixtureAnswer;
    expect(answer.bodyLength).toBe(bytes.length);
    expect(answer.bodyMd5).toBe(md5(bytes));
    expect(answer.env).toMatchObject({
      REQUEST_METHOD: 'POST',
      CONTENT_LENGTH: String(bytes.length),
      CONTENT_TYPE: 'application/x-www-form-urlencoded',
    });

    const echoed = await runCli(['request', '-c', app.socketPath, '-d', `@${file}`, '-b', '/echo-body']);
    expect(echoed.code).toBe(0);
    expect(echoed.stdout.equals(bytes)).toBe(true);
  });

  test('--data takes a string, or @- for stdin; --method and a Content-Type header are honoured', async () => {
    const literal = await runCli(['request', '-c', app.socketPath, '-X', 'PUT', '-d', 'a=1&b=2', '-b', '/echo-body']);
    expect(literal.code).toBe(0);
    expect(literal.stdout.toString()).toBe('a=1&b=2');

    const input = randomBytes(70000);
    const piped = await runCli(['request', '-c', app.socketPath, '-d', '@-', '-H', 'Content-Type: application/octet-stream', '-b', '/'], {
      input,
    });
    expect(piped.code).toBe(0);
    const answer = JSON.parse(piped.stdout.toString()) as FixtureAnswer;
    expect(answer.bodyMd5).toBe(md5(input));
    expect(answer.env.CONTENT_TYPE).toBe('application/octet-stream');
    expect(answer.env.HTTP_CONTENT_TYPE).toBe('application/octet-stream');
  });

  test('a status of 400 or above prints the response and exits 3, with --body-only too', async () => {
    const full = await runCli(['request', '-c', app.socketPath, '/missing?status=404']);
    expect(full.code).toBe(3);
    expect(parseOutput(full.stdout).statusLine).toBe('HTTP/1.1 404 Not Found');

    const bodyOnly = await runCli(['request', '-c', app.socketPath, '-b', '/missing?status=503']);
    expect(bodyOnly.code).toBe(3);
    expect(JSON.parse(bodyOnly.stdout.toString())).toHaveProperty('env');
  });

  test('a redirect (Location without Status) is a 302, exits 0, and repeated Set-Cookie fields are kept', async () => {
    const result = await runCli(['request', '-c', app.socketPath, '/?cookies=1']);
    expect(result.code).toBe(0);
    const { statusLine, headers } = parseOutput(result.stdout);
    expect(statusLine).toBe('HTTP/1.1 302 Found');
    expect(headers.filter(([name]) => name === 'Set-Cookie')).toEqual([
      ['Set-Cookie', 'a=1; Path=/'],
      ['Set-Cookie', 'b=2; Path=/'],
    ]);
    expect(headers).toContainEqual(['Location', '/elsewhere']);
  });

  test("the app's FCGI_STDERR goes to stderr", async () => {
    const result = await runCli(['request', '-c', app.socketPath, '-b', '/?stderr=something%20went%20wrong']);
    expect(result.code).toBe(0);
    expect(result.stderr).toBe('something went wrong');
  });

  test('--raw prints the CGI output as the app sent it', async () => {
    const result = await runCli(['request', '-c', app.socketPath, '--raw', '/?status=404']);
    expect(result.code).toBe(0);
    expect(result.stdout.toString()).toMatch(/^Status: 404 Not Found\r\nContent-Type: application\/json\r\n\r\n\{/);
  });

  test('output that is not a CGI response is an error (exit 1)', async () => {
    const result = await runCli(['request', '-c', app.socketPath, '/?nohead=1']);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^libfcgi request: .*app\.sock: the CGI response ended before the blank line/);
  });

  test('an app silent for --timeout ms is an error (exit 1) naming the timeout', async () => {
    const result = await runCli(['request', '-c', app.socketPath, '--timeout', '200', '/?sleep=1500']);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/nothing moved on the connection for 200 ms/);
  });

  test('--role AUTHORIZER is sent as the role', async () => {
    const result = await runCli(['request', '-c', app.socketPath, '--role', 'authorizer', '-b', '/']);
    expect(result.code).toBe(0);
    expect((JSON.parse(result.stdout.toString()) as FixtureAnswer).env.FCGI_ROLE).toBe('AUTHORIZER');
  });
});

describe('libfcgi request without an app', () => {
  const track = closeAfterEach();

  test('a socket path that does not exist: a clear error and exit 1', async () => {
    const result = await runCli(['request', '--connect', '/tmp/libfcgi-no-such-dir/app.sock', '/']);
    expect(result.code).toBe(1);
    expect(result.stdout.length).toBe(0);
    expect(result.stderr).toBe('libfcgi request: cannot connect to /tmp/libfcgi-no-such-dir/app.sock: ENOENT (no such file)\n');
  });

  test('a socket file nobody listens on (a crashed app): ECONNREFUSED and exit 1', async () => {
    const dir = makeTempDir('fcgi-cli-');
    track({ close: () => fs.rmSync(dir, { recursive: true, force: true }) });
    const socketPath = path.join(dir, 'dead.sock');
    // Listens, then dies by SIGKILL: the socket file stays, with nothing behind it.
    const script = `require('net').createServer().listen(${JSON.stringify(socketPath)}, () => process.kill(process.pid, 'SIGKILL'))`;
    const dead = await startProcess(process.execPath, ['-e', script]);
    expect(await dead.exited).toEqual({ code: null, signal: 'SIGKILL' });
    expect(fs.statSync(socketPath).isSocket()).toBe(true);
    const result = await runCli(['request', '-c', socketPath, '/']);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      `libfcgi request: cannot connect to ${socketPath}: ECONNREFUSED (connection refused: nothing accepts connections there)\n`,
    );
  });

  test('a TCP port nobody listens on: ECONNREFUSED and exit 1', async () => {
    const result = await runCli(['request', '--connect', '127.0.0.1:1', '/']);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^libfcgi request: cannot connect to 127\.0\.0\.1:1: ECONNREFUSED/);
  });

  test.each([
    [['request', '/'], /--connect <path\|host:port> is required/],
    [['request', '-c', '/tmp/x.sock', '--bogus', '/'], /Unknown option '--bogus'/],
    [['request', '-c', '/tmp/x.sock', '--timeout', 'soon', '/'], /--timeout wants an integer/],
    [['request', '-c', '/tmp/x.sock', 'relative/path'], /must start with '\/'/],
    [['request', '-c', '/tmp/x.sock', '/a', '/b'], /one request path expected/],
    [['request', '-c', '/tmp/x.sock', '-H', 'no colon', '/'], /--header wants 'Name: value'/],
    [['request', '-c', '/tmp/x.sock', '--role', 'boss', '/'], /--role must be RESPONDER, AUTHORIZER or FILTER/],
    [['request', '-c', '/tmp/x.sock', '-d', '@/tmp/libfcgi-no-such-file', '/'], /--data @\/tmp\/libfcgi-no-such-file: ENOENT/],
    [['frobnicate'], /unknown command "frobnicate"/],
  ])('usage error %j: exit 2 with a message', async (args, message) => {
    const result = await runCli(args);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(message);
    expect(result.stdout.length).toBe(0);
  });
});

describe('libfcgi --help and --version', () => {
  test('--version prints the package version', async () => {
    const { version } = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
    const result = await runCli(['--version']);
    expect(result.code).toBe(0);
    expect(result.stdout.toString()).toBe(`${version}\n`);
  });

  test.each([
    [['--help'], /^Usage: libfcgi <command>/],
    [['help', 'serve'], /^Usage: libfcgi serve <app>/],
    [['request', '--help'], /^Usage: libfcgi request --connect/],
    [['serve', '--help'], /^Usage: libfcgi serve <app>/],
  ])('%j prints usage and exits 0', async (args, usage) => {
    const result = await runCli(args);
    expect(result.code).toBe(0);
    expect(result.stdout.toString()).toMatch(usage);
  });

  test('no command prints the usage on stderr and exits 2', async () => {
    const result = await runCli([]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^Usage: libfcgi <command>/);
  });
});
