// `libfcgi serve`: workers on fd 0 behind the HTTP front end; load, bodies, mapping, crashes, shutdown, errors.
import { execFileSync } from 'child_process';
import { createHash, randomBytes } from 'crypto';
import fs from 'fs';
import http from 'http';
import https from 'https';
import path from 'path';
import { fcgiRequest } from '../../lib/client';
import { describeWithBinaries } from '../helpers/binaries';
import { closeAfterEach } from '../helpers/cleanup';
import { isRunning } from '../helpers/process';
import { makeTempDir } from '../helpers/tmp';
import { FIXTURE_APP, ROOT, runCli, startServe, waitForOutput, type FixtureAnswer } from './cli';

const CRASHING_APP = path.join(ROOT, 'test', 'fixtures', 'cli-crash.js');

interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/**
 * One request with the path sent exactly as given (fetch and URL would normalise "/a/../b"), on a fresh
 * connection. A body given as an array is sent in those chunks without a Content-Length (chunked).
 */
function rawRequest(
  url: string,
  target: string,
  options: { method?: string; headers?: Record<string, string>; body?: Buffer | string | Array<Buffer | string> } = {},
): Promise<RawResponse> {
  const { hostname, port, protocol } = new URL(url);
  const transport = protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const request = transport.request(
      {
        host: hostname,
        port,
        path: target,
        method: options.method ?? 'GET',
        headers: options.headers,
        agent: false,
        rejectUnauthorized: false,
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('error', reject);
        response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks) }));
      },
    );
    request.setTimeout(15000, () => request.destroy(new Error(`${target}: no response within 15 s`)));
    request.on('error', reject);
    if (Array.isArray(options.body)) {
      for (const chunk of options.body) request.write(chunk);
      request.end();
    } else {
      request.end(options.body);
    }
  });
}

/** Runs `count` calls of `task`, at most `concurrency` at a time; resolves with the results in order. */
async function runConcurrently<T>(count: number, concurrency: number, task: (index: number) => Promise<T>): Promise<T[]> {
  const results: T[] = new Array(count);
  let next = 0;
  const lanes = Array.from({ length: concurrency }, async () => {
    while (next < count) {
      const index = next++;
      results[index] = await task(index);
    }
  });
  await Promise.all(lanes);
  return results;
}

const md5 = (bytes: Buffer) => createHash('md5').update(bytes).digest('hex');

/**
 * Waits until the serve process has logged `count` worker starts and each of those workers (the fixture app) has
 * said it accepts; returns their PIDs in start order.
 */
async function workersReady(serve: Awaited<ReturnType<typeof startServe>>, count: number): Promise<number[]> {
  await waitForOutput(serve.process, 'stderr', new RegExp(`(?:worker \\d+ started[\\s\\S]*){${count}}`));
  const pids = serve.startedWorkers().slice(0, count);
  for (const pid of pids) await waitForOutput(serve.process, 'stderr', new RegExp(`cli-app ${pid} accepting`));
  return pids;
}

describe.each([
  ['kept connections (FCGI_KEEP_CONN)', []],
  ['a connection per request (--no-keep-conn)', ['--no-keep-conn']],
])('libfcgi serve with 2 workers, %s', (_title, modeArgs) => {
  const track = closeAfterEach();

  test('200 requests via fetch, 10 at a time, all succeed, answered by the workers', async () => {
    const serve = track(await startServe(['--workers', '2', ...modeArgs, FIXTURE_APP]));
    const workers = await workersReady(serve, 2);
    const answers = await runConcurrently(200, 10, async (i) => {
      const response = await fetch(`${serve.url}/items/${i}?n=${i}`, { headers: { 'X-Request': String(i) } });
      expect(response.status).toBe(200);
      return (await response.json()) as FixtureAnswer;
    });
    answers.forEach((answer, i) => {
      expect(answer.env).toMatchObject({ QUERY_STRING: `n=${i}`, DOCUMENT_URI: `/items/${i}`, HTTP_X_REQUEST: String(i) });
      expect(workers).toContain(answer.pid);
    });
    // the access log: time, method, target, status, body bytes, ms (written after the response, so wait for it)
    await waitForOutput(serve.process, 'stdout', /^\S+Z GET \/items\/199\?n=199 200 \d+ \d+\.\dms$/m);
  });

  test('a 1 MiB POST body goes to the app and back byte-exact; a 5 MiB response streams through', async () => {
    const serve = track(await startServe(['--workers', '2', ...modeArgs, FIXTURE_APP]));
    const body = randomBytes(1024 * 1024);
    const echoed = await fetch(`${serve.url}/echo-body`, { method: 'POST', body });
    expect(echoed.status).toBe(200);
    expect(echoed.headers.get('content-type')).toBe('application/octet-stream');
    expect(Buffer.from(await echoed.arrayBuffer()).equals(body)).toBe(true);

    const seen = (await (await fetch(`${serve.url}/upload`, { method: 'POST', body })).json()) as FixtureAnswer;
    expect(seen).toMatchObject({ bodyLength: body.length, bodyMd5: md5(body) });
    expect(seen.env.CONTENT_LENGTH).toBe(String(body.length));

    const big = await fetch(`${serve.url}/big?size=${5 * 1024 * 1024}`);
    expect(Buffer.from(await big.arrayBuffer()).equals(Buffer.alloc(5 * 1024 * 1024, 'x'))).toBe(true);
  });
});

describe('libfcgi serve: responses', () => {
  const track = closeAfterEach();

  test('Status, Location (302) and repeated Set-Cookie fields map to the HTTP response; FCGI_STDERR to stderr', async () => {
    const serve = track(await startServe([FIXTURE_APP]));
    const redirect = await fetch(`${serve.url}/?cookies=1`, { redirect: 'manual' });
    expect(redirect.status).toBe(302);
    expect(redirect.headers.get('location')).toBe('/elsewhere');
    expect(redirect.headers.getSetCookie()).toEqual(['a=1; Path=/', 'b=2; Path=/']);
    expect(await redirect.text()).toBe('moved');

    const missing = await fetch(`${serve.url}/nothing?status=404&stderr=marker-7f3a`);
    expect(missing.status).toBe(404);
    expect(missing.statusText).toBe('Not Found');
    await missing.arrayBuffer();
    await waitForOutput(serve.process, 'stderr', /marker-7f3a/);
  });

  test('a chunked request body is passed with its CONTENT_LENGTH', async () => {
    const serve = track(await startServe([FIXTURE_APP]));
    const response = await rawRequest(serve.url, '/chunked', { method: 'POST', body: ['abc', 'defgh', Buffer.alloc(70000, 1)] });
    expect(response.status).toBe(200);
    const answer = JSON.parse(response.body.toString()) as FixtureAnswer;
    expect(answer.env.CONTENT_LENGTH).toBe(String(8 + 70000));
    expect(answer.bodyMd5).toBe(md5(Buffer.concat([Buffer.from('abcdefgh'), Buffer.alloc(70000, 1)])));
  });

  test('a path that climbs above the root is a 400, as nginx answers it', async () => {
    const serve = track(await startServe([FIXTURE_APP]));
    expect((await rawRequest(serve.url, '/%2e%2e/etc/passwd')).status).toBe(400);
    expect((await rawRequest(serve.url, '/a%00b')).status).toBe(400);
  });

  test('an app silent for --timeout ms: 504', async () => {
    const serve = track(await startServe(['--timeout', '300', FIXTURE_APP]));
    const response = await fetch(`${serve.url}/slow?sleep=1500`);
    expect(response.status).toBe(504);
    expect(await response.text()).toBe('504 Gateway Timeout\n');
    await waitForOutput(serve.process, 'stderr', /GET \/slow\?sleep=1500: the application sent nothing for 300 ms/);
  });

  test('an app that cannot be reached (--connect to a dead socket): 502 with a short body', async () => {
    const dir = makeTempDir('fcgi-cli-');
    track({ close: () => fs.rmSync(dir, { recursive: true, force: true }) });
    const serve = track(await startServe(['--connect', path.join(dir, 'nobody.sock')]));
    const response = await fetch(`${serve.url}/`);
    expect(response.status).toBe(502);
    expect(await response.text()).toBe('502 Bad Gateway\n');
    await waitForOutput(serve.process, 'stderr', /GET \/: cannot connect to the application: ENOENT \(no such file\)/);
  });
});

describe('libfcgi serve: workers', () => {
  const track = closeAfterEach();

  test('a worker killed mid-run is restarted and requests keep succeeding', async () => {
    const serve = track(await startServe(['--workers', '2', FIXTURE_APP]));
    const [victim, survivor] = await workersReady(serve, 2);
    const statuses = await runConcurrently(200, 10, async (i) => {
      if (i === 60) process.kill(victim, 'SIGKILL');
      const response = await fetch(`${serve.url}/run/${i}`);
      await response.arrayBuffer();
      return response.status;
    });
    expect(statuses.filter((status) => status !== 200)).toEqual([]);

    const started = await workersReady(serve, 3);
    const replacement = started[2];
    expect(serve.process.stderr()).toMatch(
      new RegExp(`worker ${victim} exited \\(signal SIGKILL\\) after [\\d.]+ s; restarting in \\d+ ms`),
    );
    expect(isRunning(victim)).toBe(false);
    expect(isRunning(replacement)).toBe(true);

    // Both the survivor and the replacement serve: while a slow request keeps one busy, a new connection to the
    // socket is accepted by the other.
    const slow = fetch(`${serve.url}/busy?announce=busy-5e2&sleep=1000`).then(async (r) => (await r.json()) as FixtureAnswer);
    await waitForOutput(serve.process, 'stderr', /busy-5e2/); // the slow request is in a worker's hands
    const direct = await fcgiRequest({ path: serve.socketPath as string, timeout: 5000 }, { params: { QUERY_STRING: '' } });
    const other = (JSON.parse(direct.body.toString()) as FixtureAnswer).pid;
    expect([(await slow).pid, other].sort()).toEqual([survivor, replacement].sort());
  });

  test('a worker that keeps crashing at start is restarted with a growing back-off', async () => {
    const serve = track(await startServe(['--workers', '1', CRASHING_APP]));
    await waitForOutput(serve.process, 'stderr', /restarting in 100 ms[\s\S]*restarting in 200 ms[\s\S]*restarting in 400 ms/);
    expect(serve.process.stderr()).toMatch(/worker \d+ exited \(code 3\) after [\d.]+ s; restarting in 100 ms/);
    expect(serve.process.stderr()).toMatch(/cli-crash \d+ exiting/);
  });

  test('with every worker crash-looping, a request is answered 503 at once with the last exit reason', async () => {
    const serve = track(await startServe(['--workers', '2', CRASHING_APP]));
    // Both workers exited soon after starting twice in a row: each has been given the 200 ms back-off.
    await waitForOutput(serve.process, 'stderr', /restarting in 200 ms[\s\S]*restarting in 200 ms/);
    const t0 = Date.now();
    const response = await rawRequest(serve.url, '/anything');
    const ms = Date.now() - t0;
    expect(response.status).toBe(503);
    expect(response.body.toString()).toMatch(
      /^503 Service Unavailable\nlibfcgi serve: every worker keeps exiting soon after it starts \(the last: code 3 after [\d.]+ s\)\n$/,
    );
    expect(ms).toBeLessThan(2000); // not the 60 s client timeout
  });

  test('a client that gave up before the response is logged as such (499), not as "200 0"', async () => {
    const serve = track(await startServe(['--workers', '1', FIXTURE_APP]));
    await workersReady(serve, 1);
    const controller = new AbortController();
    const pending = fetch(`${serve.url}/given-up?announce=started-7f3&sleep=1500`, { signal: controller.signal }).catch(
      (err: Error) => err,
    );
    await waitForOutput(serve.process, 'stderr', /started-7f3/);
    controller.abort();
    await pending;
    await waitForOutput(
      serve.process,
      'stdout',
      /^\S+Z GET \/given-up\S* 499 0 [\d.]+ms client closed the connection before the response was complete$/m,
    );
    expect(serve.process.stdout()).not.toMatch(/GET \/given-up\S* 200 /);
  });

  test.each(['SIGTERM', 'SIGINT'] as const)(
    '%s: requests in flight finish, then it exits 0, the socket is gone and no worker remains',
    async (signal) => {
      const serve = track(await startServe(['--workers', '2', FIXTURE_APP]));
      const workers = await workersReady(serve, 2);
      const socketPath = serve.socketPath as string;
      expect(fs.statSync(socketPath).isSocket()).toBe(true);

      const inFlight = fetch(`${serve.url}/last?announce=request-started-9c1&sleep=700`);
      await waitForOutput(serve.process, 'stderr', /request-started-9c1/);
      serve.process.kill(signal);
      const response = await inFlight;
      expect(response.status).toBe(200);
      expect(((await response.json()) as FixtureAnswer).env.DOCUMENT_URI).toBe('/last');

      expect(await serve.process.exited).toEqual({ code: 0, signal: null });
      expect(fs.existsSync(socketPath)).toBe(false);
      expect(fs.existsSync(path.dirname(socketPath))).toBe(false); // the temp dir it made
      for (const pid of workers) expect(isRunning(pid)).toBe(false);
      await waitForOutput(serve.process, 'stderr', new RegExp(`${signal}: shutting down[\\s\\S]*stopped`));
    },
  );

  test('--socket puts the FastCGI socket where asked, and libfcgi request can use it directly', async () => {
    const dir = makeTempDir('fcgi-cli-');
    track({ close: () => fs.rmSync(dir, { recursive: true, force: true }) });
    const socketPath = path.join(dir, 'my.sock');
    const serve = track(await startServe(['--socket', socketPath, '-q', FIXTURE_APP]));
    expect(serve.socketPath).toBe(socketPath);
    const result = await runCli(['request', '-c', socketPath, '-b', '/direct']);
    expect(result.code).toBe(0);
    expect((JSON.parse(result.stdout.toString()) as FixtureAnswer).env.DOCUMENT_URI).toBe('/direct');
    await serve.close();
    expect(fs.existsSync(socketPath)).toBe(false);
    expect(serve.process.stderr()).not.toMatch(/worker \d+ started/); // --quiet
  });

  test('usage errors exit 2; an address in use exits 1 and leaves nothing behind', async () => {
    const missing = await runCli(['serve']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/the app to run is missing/);
    const nonexistent = await runCli(['serve', 'no-such-app.js']);
    expect(nonexistent.code).toBe(2);
    expect(nonexistent.stderr).toMatch(/the app no-such-app\.js does not exist/);

    const first = track(await startServe([FIXTURE_APP]));
    const port = new URL(first.url).port;
    const second = await runCli(['serve', '--listen', `127.0.0.1:${port}`, FIXTURE_APP]);
    expect(second.code).toBe(1);
    expect(second.stderr).toMatch(new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port}: EADDRINUSE`));
  });
});

describeWithBinaries(['openssl'])('libfcgi serve over TLS', () => {
  const track = closeAfterEach();

  test('--tls-cert/--tls-key serve HTTPS and the app sees HTTPS=on and REQUEST_SCHEME=https', async () => {
    const dir = makeTempDir('fcgi-cli-');
    track({ close: () => fs.rmSync(dir, { recursive: true, force: true }) });
    const key = path.join(dir, 'key.pem');
    const cert = path.join(dir, 'cert.pem');
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-keyout',
        key,
        '-out',
        cert,
        '-days',
        '1',
        '-subj',
        '/CN=localhost',
      ],
      { stdio: 'ignore' },
    );
    const serve = track(await startServe(['--tls-cert', cert, '--tls-key', key, FIXTURE_APP]));
    expect(serve.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const response = await rawRequest(serve.url, '/secure?x=1');
    expect(response.status).toBe(200);
    const { env } = JSON.parse(response.body.toString()) as FixtureAnswer;
    expect(env).toMatchObject({ HTTPS: 'on', REQUEST_SCHEME: 'https', QUERY_STRING: 'x=1' });
  });
});
