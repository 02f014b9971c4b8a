// An app's mistakes stay its own request's: late output on a finished request, bad JSON, a huge head, misuse
// messages, FCGI_NO_REQUEST, and close() leaving alone a socket file that is no longer ours.
import fs from 'fs';
import path from 'path';
import { fcgiRequest } from '../../lib/client';
import { FastCGI } from '../../lib';
import { appCommand, appEnv, fixture, REPO_ROOT, startApp, waitForOutput } from '../helpers/app-process';
import { describeWithBinaries } from '../helpers/binaries';
import { closeAfterEach } from '../helpers/cleanup';
import { httpRequest } from '../helpers/http';
import { startNginx } from '../helpers/nginx';
import { socketInode, startProcess, unixSocketListening, waitForSocketFile } from '../helpers/process';
import { tempDir } from '../helpers/tmp';
import { events, waitForEvent } from '../server/harness';

type Track = ReturnType<typeof closeAfterEach>;

/** How many times `text` occurs in `haystack`. */
const count = (haystack: string, text: string) => haystack.split(text).length - 1;

async function startServerStack(track: Track) {
  const dir = track(tempDir('fcgi-mistakes-')).path;
  const app = track(await startApp(fixture('server-app.ts'), { listen: { path: path.join(dir, 'app.sock') } }));
  const nginx = track(await startNginx({ upstream: app.address }));
  return { app, proc: app.process, nginx };
}

describeWithBinaries(['nginx'])("concurrent server: an app's mistakes", () => {
  const track = closeAfterEach();

  test('print()/header()/flush()/error() after the handler returned: ignored (false), one warning naming the URI, other requests answered', async () => {
    const { proc, nginx } = await startServerStack(track);
    const early = await httpRequest(`${nginx.url}/late-print?x=1`);
    expect([early.status, early.text]).toEqual([200, 'early']);
    const late = await waitForEvent(proc, (e) => e.event === 'late');
    expect(late).toMatchObject({ print1: false, print2: false, error: false });
    // The process is alive and serves others.
    expect((await httpRequest(`${nginx.url}/instant`)).text).toBe('ok');
    const stderr = proc.stderr();
    expect(count(stderr, 'on a finished request (/late-print?x=1) was ignored')).toBe(1);
    expect(stderr).toContain('FCGI_REQUEST_FINISHED');
  });

  test.each([
    ['malformed JSON', '{"a":'],
    ['an empty body', ''],
  ])('json() on %s throws FCGI_INVALID_JSON: answered 400, one line (no stack trace) in the web server log', async (_what, body) => {
    const { proc, nginx } = await startServerStack(track);
    const response = await httpRequest(`${nginx.url}/json`, { method: 'POST', body, headers: { 'Content-Type': 'application/json' } });
    expect(response.status).toBe(400);
    expect(response.text).toBe('Bad Request\n');
    expect(await waitForEvent(proc, (e) => e.event === 'error')).toMatchObject({ code: 'FCGI_INVALID_JSON' });
    const log = nginx.errorLog();
    expect(log).toMatch(/FastCGI sent in stderr: "libfcgi: answered 400: the request body is not valid JSON/);
    expect(log).not.toMatch(/\bat .*server\.(ts|js)/);
    const good = await httpRequest(`${nginx.url}/json`, { method: 'POST', body: '{"a":1}' });
    expect([good.status, good.text]).toEqual([200, '{"got":{"a":1}}']);
  });

  test('a response head over 8 KiB warns once per process (FCGI_LARGE_HEAD); a small one does not', async () => {
    const { proc, nginx } = await startServerStack(track);
    await httpRequest(`${nginx.url}/big-head?n=4000`);
    expect(proc.stderr()).not.toContain('FCGI_LARGE_HEAD');
    await httpRequest(`${nginx.url}/big-head?n=10000`);
    await httpRequest(`${nginx.url}/big-head?n=20000`);
    expect((await httpRequest(`${nginx.url}/instant`)).text).toBe('ok'); // after both: their warnings are out
    expect(count(proc.stderr(), 'FCGI_LARGE_HEAD')).toBe(1);
    expect(proc.stderr()).toMatch(/a response head of 100\d\d bytes/);
  });
});

describe("accept loop: an app's mistakes and misuse messages", () => {
  const track = closeAfterEach();

  test('print()/error()/flush() after finish(): false, one warning naming the URI; env then says "finished"', async () => {
    const dir = track(tempDir('fcgi-mistakes-')).path;
    const sock = path.join(dir, 'app.sock');
    const [node, ...args] = appCommand(fixture('sync-app.ts'));
    const proc = track(await startProcess(node, args, { cwd: REPO_ROOT, env: appEnv({ APP_OPTIONS: JSON.stringify({ path: sock }) }) }));
    await waitForSocketFile(sock, 15000, { process: proc });
    const params = { REQUEST_METHOD: 'GET', REQUEST_URI: '/finish-then-print' };
    const response = await fcgiRequest({ path: sock, timeout: 10000 }, { params });
    expect(response.body.toString()).toBe('finished early');
    await waitForOutput(proc, '"late"');
    const line = proc
      .stdout()
      .split('\n')
      .find((l) => l.includes('"late"')) as string;
    const report = JSON.parse(line) as { late: boolean[]; envError: { code: string; message: string } };
    expect(report.late).toEqual([false, false, false, false]);
    expect(report.envError.code).toBe('FCGI_NO_REQUEST');
    expect(report.envError.message).toContain('finished');
    expect(report.envError.message).not.toContain('call accept() first');
    // The loop goes on.
    const next = await fcgiRequest({ path: sock, timeout: 10000 }, { params: { REQUEST_METHOD: 'GET', REQUEST_URI: '/x' } });
    expect(next.body.toString()).toBe('ok 1');
    expect(count(proc.stderr(), 'print() on a finished request (/finish-then-print) was ignored')).toBe(1);
  });

  test('a request member with no current request throws FCGI_NO_REQUEST ("call accept() first")', () => {
    const dir = track(tempDir('fcgi-mistakes-')).path;
    const fcgi = new FastCGI({ path: path.join(dir, 'app.sock') });
    try {
      expect(() => fcgi.env).toThrow(
        expect.objectContaining({ code: 'FCGI_NO_REQUEST', message: expect.stringContaining('call accept() first') }),
      );
      expect(() => fcgi.param('X')).toThrow(expect.objectContaining({ code: 'FCGI_NO_REQUEST' }));
      expect(() => fcgi.read()).toThrow(expect.objectContaining({ code: 'FCGI_NO_REQUEST' }));
      expect(() => fcgi.print('x')).toThrow(expect.objectContaining({ code: 'FCGI_NO_REQUEST' }));
    } finally {
      fcgi.close();
    }
  });

  test.each([
    ['the accept loop (new FastCGI())', 'new FastCGI()'],
    ['the concurrent server (createServer().listen())', 'createServer(() => undefined).listen()'],
  ])('%s with no options and fd 0 = /dev/null: ENOTSOCK with the same advice, naming libfcgi serve', async (_what, call) => {
    const script =
      `const { FastCGI, createServer } = require(${JSON.stringify(REPO_ROOT)});` +
      `(async () => { try { await ${call}; console.log('{}'); } catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })); } })();`;
    const proc = track(await startProcess(process.execPath, ['-e', script], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] }));
    await proc.exited;
    const result = JSON.parse(proc.stdout()) as { code: string; message: string };
    expect(result.code).toBe('ENOTSOCK');
    expect(result.message).toContain('fd 0 is not a listening socket');
    expect(result.message).toContain('`libfcgi serve`');
    expect(result.message).toContain('spawn-fcgi');
    expect(result.message).toContain('pass { path } or { port }');
  });
});

describe("the socket file of the next process survives the old one's shutdown", () => {
  const track = closeAfterEach();

  test.each(['accept loop', 'concurrent server'])(
    '%s: a second process replaced the socket file; the first closes on SIGTERM and leaves the new file alone',
    async (which) => {
      const dir = track(tempDir('fcgi-mistakes-')).path;
      const sock = path.join(dir, 'app.sock');
      const start = async () => {
        if (which === 'accept loop') {
          const [node, ...args] = appCommand(fixture('sync-app.ts'));
          const proc = track(
            await startProcess(node, args, { cwd: REPO_ROOT, env: appEnv({ APP_OPTIONS: JSON.stringify({ path: sock }) }) }),
          );
          await waitForOutput(proc, 'accepting');
          return proc;
        }
        const [node, ...args] = appCommand(fixture('server-app.ts'));
        const proc = track(await startProcess(node, args, { cwd: REPO_ROOT, env: appEnv({ FCGI_SOCKET_PATH: sock }) }));
        await waitForEvent(proc, (e) => e.event === 'listening', { timeoutMs: 15000 });
        return proc;
      };
      const first = await start();
      const firstIno = socketInode(sock);
      // A deploy moves the old socket aside (or deletes it) and starts the next process on the same path.
      fs.renameSync(sock, path.join(dir, 'old.sock'));
      const second = await start();
      const secondIno = socketInode(sock);
      expect(secondIno).toBeDefined();
      expect(secondIno).not.toBe(firstIno);

      first.kill('SIGTERM');
      expect(await first.exited).toEqual({ code: 0, signal: null });
      expect(socketInode(sock)).toBe(secondIno);
      expect(unixSocketListening(sock)).toBe(true);
      if (which === 'concurrent server') expect(events(second).at(-1)).toMatchObject({ event: 'listening' });
    },
  );
});
