// `libfcgi run`: an unmodified Express app that calls app.listen(3000) served over FastCGI under spawn-fcgi behind
// nginx (port 3000 never opened), and each kind of export (Express, Koa, Fastify, Hono, a fetch handler) served.
import fs from 'fs';
import path from 'path';
import { fcgiRequest } from '../../lib/client';
import { describeWithBinaries } from '../helpers/binaries';
import { closeAfterAll, closeAfterEach } from '../helpers/cleanup';
import { startNginx } from '../helpers/nginx';
import { holdsListeningPort, startProcess, waitForSocketFile } from '../helpers/process';
import { startSpawnFcgi } from '../helpers/spawn-fcgi';
import { tempDir } from '../helpers/tmp';
import { request } from '../server/harness';
import { CLI, ROOT, runCli, waitForOutput } from './cli';

const EXAMPLE = path.join(ROOT, 'examples', 'express-listen.js');
const runFixture = (name: string) => path.join(ROOT, 'test', 'fixtures', 'run', name);

describeWithBinaries(['nginx', 'spawn-fcgi'])('libfcgi run: an Express app that calls app.listen(3000), under spawn-fcgi', () => {
  const track = closeAfterAll();
  let url: string;
  let pid: number;
  let appOutput: () => string;

  beforeAll(async () => {
    const dir = track(tempDir('fcgi-run-'));
    const socketPath = path.join(dir.path, 'app.sock');
    const app = track(await startSpawnFcgi({ socketPath, command: [process.execPath, CLI, 'run', EXAMPLE] }));
    pid = app.pids[0];
    appOutput = () => app.process?.stdout() ?? '';
    // The listen callback ran (the app prints it), so the app is serving.
    if (app.process) await waitForOutput(app.process, 'stdout', /listening on port 3000/);
    url = track(await startNginx({ upstream: { path: socketPath } })).url;
  });

  test('the app answers through nginx, its listen callback ran, and port 3000 is not opened', async () => {
    const r = await request(`${url}/`);
    expect(r.status).toBe(200);
    expect(r.text).toBe('Hello from Express over FastCGI, 127.0.0.1\n');
    const echo = await request(`${url}/echo`, { method: 'POST', body: '{"a":[1,2]}', headers: { 'Content-Type': 'application/json' } });
    expect(JSON.parse(echo.text)).toEqual({ youSent: { a: [1, 2] } });
    expect(appOutput()).toContain('listening on port 3000');
    expect(holdsListeningPort(pid, 3000)).toBe(false);
  });
});

describe('libfcgi run: what the module exports is served', () => {
  const track = closeAfterEach();

  test.each([
    ['express-export.js', 'express'],
    ['koa-export.js', 'koa'],
    ['fastify-export.js', 'fastify'],
    ['hono-export.mjs', 'hono'],
    ['fetch-export.mjs', 'fetch'],
  ])('%s is served as a %s app on --socket', async (file, kind) => {
    const dir = track(tempDir('fcgi-run-'));
    const socketPath = path.join(dir.path, 'app.sock');
    const proc = await startProcess(process.execPath, [CLI, 'run', runFixture(file), '--socket', socketPath, '--concurrency', '4'], {
      cwd: ROOT,
    });
    track({ close: () => proc.close() });
    await waitForSocketFile(socketPath, 15000, { process: proc });
    const r = await fcgiRequest(
      { path: socketPath },
      { params: { REQUEST_METHOD: 'GET', REQUEST_URI: '/some/path', SERVER_PROTOCOL: 'HTTP/1.1' } },
    );
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body.toString())).toEqual({ kind, url: '/some/path' });
    expect(proc.stderr()).toMatch(/libfcgi run: serving/);
  });

  test('an app that calls listen() itself: req and res keep one hidden class from request to request (the adapter primes them for the Express app behind listen())', async () => {
    const dir = track(tempDir('fcgi-run-'));
    const socketPath = path.join(dir.path, 'app.sock');
    const proc = await startProcess(process.execPath, [CLI, 'run', runFixture('express-listen-shapes.js'), '--socket', socketPath], {
      cwd: ROOT,
    });
    track({ close: () => proc.close() });
    await waitForSocketFile(socketPath, 15000, { process: proc });
    const same: unknown[] = [];
    for (let i = 0; i < 30; i++) {
      const r = await fcgiRequest(
        { path: socketPath },
        { params: { REQUEST_METHOD: 'GET', REQUEST_URI: '/same', SERVER_PROTOCOL: 'HTTP/1.1' } },
      );
      same.push((JSON.parse(r.body.toString()) as { same: unknown }).same);
    }
    expect(same.slice(15)).toEqual(same.slice(15).map(() => ({ req: true, res: true })));
  });

  test("a TypeScript module is served (tsx from the app's project: Node 20 has no type stripping)", async () => {
    const dir = track(tempDir('fcgi-run-'));
    const socketPath = path.join(dir.path, 'app.sock');
    const proc = await startProcess(process.execPath, [CLI, 'run', runFixture('typed-export.ts'), '--socket', socketPath], { cwd: ROOT });
    track({ close: () => proc.close() });
    await waitForSocketFile(socketPath, 15000, { process: proc });
    const r = await fcgiRequest(
      { path: socketPath },
      { params: { REQUEST_METHOD: 'GET', REQUEST_URI: '/typed', SERVER_PROTOCOL: 'HTTP/1.1' } },
    );
    expect(JSON.parse(r.body.toString())).toEqual({ kind: 'typescript', url: '/typed' });
  });

  test('a TypeScript module where neither Node nor an installed tsx can run it: what to install, no stack trace, exit 2', async () => {
    if ((process.features as { typescript?: unknown }).typescript) return; // this Node strips types itself
    const dir = track(tempDir('fcgi-run-')); // outside the repository: no tsx to be found from here
    const app = path.join(dir.path, 'app.ts');
    fs.copyFileSync(runFixture('typed-export.ts'), app);
    const r = await runCli(['run', app, '--socket', path.join(dir.path, 'a.sock')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/is TypeScript.*Install tsx in your project \(npm install --save-dev tsx\)/s);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  test('a module that exports no app and never listens gets a clear message', async () => {
    const dir = track(tempDir('fcgi-run-'));
    const proc = await startProcess(process.execPath, [CLI, 'run', runFixture('nothing.js'), '--socket', path.join(dir.path, 'a.sock')], {
      cwd: ROOT,
    });
    track({ close: () => proc.close() });
    await waitForOutput(proc, 'stderr', /exports no app .*waiting for its listen\(\)/);
  });

  test('usage mistakes exit 2 with the reason', async () => {
    const both = await runCli(['run', runFixture('koa-export.js'), '--socket', '/tmp/x.sock', '--listen', '127.0.0.1:1']);
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/--socket or --listen, not both/);
    const none = await runCli(['run']);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/the app to run is missing/);
  });
});
