// The FastCGI client, `libfcgi request` and `libfcgi serve --connect` against PHP-FPM: an application none of us
// wrote (Debian's php-fpm, started with a generated pool config).
import { createHash, randomBytes } from 'crypto';
import fs from 'fs';
import path from 'path';
import { FastCGIClient, fcgiRequest } from '../../lib/client';
import { describeWithBinaries } from '../helpers/binaries';
import { closeAfterEach } from '../helpers/cleanup';
import { phpFpmBinaryName, startPhpFpm } from '../helpers/php-fpm';
import { makeTempDir } from '../helpers/tmp';
import { runCli, startServe } from './cli';

/**
 * Echoes what PHP saw. error_log() with no error_log ini setting goes to the SAPI's logger, which in PHP-FPM writes
 * "PHP message: ..." as FCGI_STDERR records when fastcgi.logging is on (its default): that is what nginx logs as
 * "FastCGI sent in stderr". (Writing to php://stderr would go to the worker's fd 2, i.e. php-fpm's own log.)
 */
const SCRIPT = `<?php
$input = file_get_contents('php://input');
if (isset($_GET['log'])) { error_log('from php: ' . $_GET['log']); }
if (isset($_GET['status'])) { http_response_code((int) $_GET['status']); }
header('Content-Type: application/json');
header('X-Reply: 1');
echo json_encode([
  'length' => strlen($input),
  'md5' => md5($input),
  'sapi' => PHP_SAPI,
  'method' => $_SERVER['REQUEST_METHOD'],
  'query' => $_SERVER['QUERY_STRING'] ?? null,
  'uri' => $_SERVER['REQUEST_URI'] ?? null,
  'script' => $_SERVER['SCRIPT_FILENAME'],
  'contentType' => $_SERVER['CONTENT_TYPE'] ?? null,
  'header' => $_SERVER['HTTP_X_TEST'] ?? null,
  'get' => $_GET,
]);
`;

interface PhpAnswer {
  length: number;
  md5: string;
  sapi: string;
  method: string;
  query: string | null;
  uri: string | null;
  script: string;
  contentType: string | null;
  header: string | null;
  get: Record<string, string>;
}

const md5 = (bytes: Buffer) => createHash('md5').update(bytes).digest('hex');

describeWithBinaries([phpFpmBinaryName()])('the client against PHP-FPM', () => {
  const track = closeAfterEach();
  let scriptDir: string;
  let script: string;
  let socketPath: string;

  beforeEach(async () => {
    scriptDir = makeTempDir('fcgi-php-');
    track({ close: () => fs.rmSync(scriptDir, { recursive: true, force: true }) });
    script = path.join(scriptDir, 'app.php');
    fs.writeFileSync(script, SCRIPT);
    socketPath = path.join(scriptDir, 'fpm.sock');
    track(await startPhpFpm({ socketPath, scriptDir, workers: 2 }));
  });

  const baseParams = (extra: Record<string, string>) => ({
    GATEWAY_INTERFACE: 'CGI/1.1',
    SERVER_PROTOCOL: 'HTTP/1.1',
    SCRIPT_FILENAME: script,
    SCRIPT_NAME: '/app.php',
    REQUEST_URI: '/app.php',
    DOCUMENT_ROOT: scriptDir,
    REMOTE_ADDR: '127.0.0.1',
    ...extra,
  });

  test('GET: the script runs with the params as $_SERVER and answers a CGI response', async () => {
    const response = await fcgiRequest(
      { path: socketPath, timeout: 10000 },
      { params: baseParams({ REQUEST_METHOD: 'GET', QUERY_STRING: 'a=1&b=two', HTTP_X_TEST: 'hello' }) },
    );
    expect(response.status).toBe(200);
    expect(response.headers).toEqual(
      expect.arrayContaining([
        ['Content-Type', 'application/json'],
        ['X-Reply', '1'],
      ]),
    );
    const answer = JSON.parse(response.body.toString()) as PhpAnswer;
    expect(answer).toMatchObject({
      sapi: 'fpm-fcgi',
      method: 'GET',
      query: 'a=1&b=two',
      script,
      header: 'hello',
      length: 0,
      get: { a: '1', b: 'two' },
    });
  });

  test('POST with a 1 MiB body: PHP reads it whole (strlen and md5 match)', async () => {
    const body = randomBytes(1024 * 1024);
    const client = await FastCGIClient.connect({ path: socketPath }, { timeout: 10000 });
    try {
      const { stdout, stderr, protocolStatus } = await client
        .request({
          params: baseParams({
            REQUEST_METHOD: 'POST',
            CONTENT_TYPE: 'application/octet-stream',
            CONTENT_LENGTH: String(body.length),
          }),
          body,
        })
        .response();
      expect(protocolStatus).toBe(0);
      expect(stderr.toString()).toBe('');
      const text = stdout.toString();
      const answer = JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)) as PhpAnswer;
      expect(answer).toMatchObject({ method: 'POST', length: body.length, md5: md5(body), contentType: 'application/octet-stream' });
    } finally {
      await client.close();
    }
  });

  test('several requests in turn on one kept connection (FCGI_KEEP_CONN)', async () => {
    const client = await FastCGIClient.connect({ path: socketPath }, { timeout: 10000, keepConn: true });
    try {
      for (let i = 0; i < 5; i++) {
        const { stdout } = await client.request({ params: baseParams({ REQUEST_METHOD: 'GET', QUERY_STRING: `i=${i}` }) }).response();
        expect(stdout.toString()).toContain(`"query":"i=${i}"`);
      }
      expect(client.closed).toBe(false);
    } finally {
      await client.close();
    }
  });

  test("FCGI_GET_VALUES returns PHP-FPM's values: it does not multiplex connections", async () => {
    const client = await FastCGIClient.connect({ path: socketPath }, { timeout: 10000 });
    try {
      const asked = ['FCGI_MAX_CONNS', 'FCGI_MAX_REQS', 'FCGI_MPXS_CONNS'];
      const values = await client.getValues(asked);
      expect(values.FCGI_MPXS_CONNS).toBe('0');
      for (const name of Object.keys(values)) expect(asked).toContain(name); // only names it was asked for
    } finally {
      await client.close();
    }
  });

  test("error_log() output arrives on the request's stderr stream (FCGI_STDERR), apart from stdout", async () => {
    const client = await FastCGIClient.connect({ path: socketPath }, { timeout: 10000 });
    try {
      const request = client.request({ params: baseParams({ REQUEST_METHOD: 'GET', QUERY_STRING: 'log=disk%20almost%20full' }) });
      const stderrChunks: Buffer[] = [];
      request.stderr.on('data', (chunk: Buffer) => stderrChunks.push(chunk));
      const stdoutChunks: Buffer[] = [];
      request.stdout.on('data', (chunk: Buffer) => stdoutChunks.push(chunk));
      const end = await request.done;
      expect(end).toEqual({ appStatus: 0, protocolStatus: 0 });
      expect(Buffer.concat(stderrChunks).toString()).toMatch(/^PHP message: from php: disk almost full/);
      expect(Buffer.concat(stdoutChunks).toString()).not.toMatch(/from php/);
    } finally {
      await client.close();
    }
  });

  test('libfcgi request talks to PHP-FPM too: --document-root gives SCRIPT_FILENAME, 4xx exits 3', async () => {
    const ok = await runCli([
      'request',
      '-c',
      socketPath,
      '--document-root',
      scriptDir,
      '-H',
      'X-Test: cli',
      '-b',
      '/app.php?log=via%20cli',
    ]);
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout.toString())).toMatchObject({ script, header: 'cli', uri: '/app.php?log=via%20cli' });
    expect(ok.stderr).toMatch(/^PHP message: from php: via cli/);

    const teapot = await runCli(['request', '-c', socketPath, '--document-root', scriptDir, '/app.php?status=418']);
    expect(teapot.code).toBe(3);
    expect(teapot.stdout.toString()).toMatch(/^HTTP\/1\.1 418 I'm a Teapot\r\n/i);
  });

  test('libfcgi serve --connect puts HTTP in front of PHP-FPM', async () => {
    const serve = track(await startServe(['--connect', socketPath, '--document-root', scriptDir]));
    const body = randomBytes(300000);
    const response = await fetch(`${serve.url}/app.php?x=1`, {
      method: 'POST',
      body,
      headers: { 'Content-Type': 'application/octet-stream', 'X-Test': 'through serve' },
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('x-reply')).toBe('1');
    expect(await response.json()).toMatchObject({ script, length: body.length, md5: md5(body), header: 'through serve', get: { x: '1' } });
  });
});
