// The accept loop's life: signals, exit codes, the socket file, and refusals to listen. Apps run as child processes.
import fs from 'fs';
import net from 'net';
import path from 'path';
import { fcgiRequest } from '../../lib/client';
import { FastCGI } from '../../lib';
import { appCommand, appEnv, fixture, REPO_ROOT, waitForOutput } from '../helpers/app-process';
import { describeWithBinaries } from '../helpers/binaries';
import { closeAfterEach } from '../helpers/cleanup';
import { httpRequest } from '../helpers/http';
import { startNginx } from '../helpers/nginx';
import { freePort } from '../helpers/ports';
import { socketInode, startProcess, waitForSocketFile, type ExitStatus, type ProcessHandle } from '../helpers/process';
import { tempDir } from '../helpers/tmp';

type Track = ReturnType<typeof closeAfterEach>;

interface FixtureOptions {
  mode?: 'serve' | 'construct-only' | 'construct-error' | 'leave-loop';
  /** Listen options as the app's constructor gets them (JSON); none means fd 0. */
  listen?: object;
  /** What the app's fd 0 is; default /dev/null ('ignore'); 'pipe' gives it one end of a socketpair. */
  stdin?: 'ignore' | 'pipe';
}

/** A test/fixtures/sync-app.ts child process, stopped after the test; 'close' (exit + all output read) as a promise. */
async function runFixture(track: Track, options: FixtureOptions): Promise<{ proc: ProcessHandle; closed: Promise<ExitStatus> }> {
  const [node, ...args] = appCommand(fixture('sync-app.ts'));
  const env = appEnv({
    APP_MODE: options.mode ?? 'serve',
    ...(options.listen ? { APP_OPTIONS: JSON.stringify(options.listen) } : {}),
  });
  const proc = track(await startProcess(node, args, { cwd: REPO_ROOT, env, stdio: [options.stdin ?? 'ignore', 'pipe', 'pipe'] }));
  const closed = new Promise<ExitStatus>((resolve) => proc.child.once('close', (code, signal) => resolve({ code, signal })));
  return { proc, closed };
}

/**
 * Syscall numbers of epoll_wait/epoll_pwait (/proc/PID/syscall), where the accept loop waits. Node's own loop
 * waits there too, but the app prints "accepting" synchronously right before accept(), so after the line the
 * main thread can only be blocked in the accept loop's wait.
 */
const POLL_SYSCALLS: Record<string, string[]> = { x64: ['232', '281'], arm64: ['22'] };

/**
 * Waits until the app is inside accept(): it printed "accepting" just before calling it, and its main thread is
 * blocked in epoll_wait(). Where /proc/PID/syscall cannot be read (or the arch is not listed), the line is enough.
 */
async function waitUntilAccepting(proc: ProcessHandle): Promise<void> {
  await waitForOutput(proc, 'accepting');
  const wanted = POLL_SYSCALLS[process.arch];
  if (!wanted) return;
  const deadline = Date.now() + 5000;
  for (;;) {
    let nr: string;
    try {
      nr = fs.readFileSync(`/proc/${proc.pid}/syscall`, 'utf8').split(' ')[0];
    } catch {
      return;
    }
    if (wanted.includes(nr)) return;
    if (Date.now() > deadline) throw new Error(`pid ${proc.pid} is not blocked in epoll_wait() (syscall ${nr})`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** The JSON an app in 'construct-error' mode prints, once it has exited (code 3 when construction threw). */
async function constructionError(track: Track, options: FixtureOptions) {
  const { proc, closed } = await runFixture(track, { ...options, mode: 'construct-error' });
  const status = await closed;
  const result = JSON.parse(proc.stdout().trim()) as Partial<Record<'name' | 'code' | 'syscall' | 'message', string>> & {
    errno?: number;
  };
  return { status, ...result };
}

/** Milliseconds from sending `signal` to the 'exit' event, and the exit status; rejects when no exit within 5 s. */
async function timeToExit(proc: ProcessHandle, signal: NodeJS.Signals): Promise<{ ms: number; status: ExitStatus }> {
  const start = process.hrtime.bigint();
  let timer: NodeJS.Timeout | undefined;
  const exited = new Promise<ExitStatus>((resolve, reject) => {
    proc.child.once('exit', (code, sig) => resolve({ code, signal: sig }));
    timer = setTimeout(() => reject(new Error(`${signal} did not end pid ${proc.pid} within 5 s`)), 5000);
  });
  proc.kill(signal);
  try {
    const status = await exited;
    return { ms: Number(process.hrtime.bigint() - start) / 1e6, status };
  } finally {
    clearTimeout(timer);
  }
}

async function get(socketPath: string, uri: string): Promise<string> {
  const response = await fcgiRequest({ path: socketPath, timeout: 10000 }, { params: { REQUEST_METHOD: 'GET', REQUEST_URI: uri } });
  return response.body.toString();
}

describe('signals', () => {
  const track = closeAfterEach();

  test('SIGTERM while idle in accept(): accept() returns false and the process exits 0 within 1 s', async () => {
    const dir = track(tempDir()).path;
    const sock = path.join(dir, 'app.sock');
    const { proc, closed } = await runFixture(track, { listen: { path: sock } });
    await waitUntilAccepting(proc);
    const { ms, status } = await timeToExit(proc, 'SIGTERM');
    expect(status).toEqual({ code: 0, signal: null });
    expect(ms).toBeLessThan(1000);
    await closed;
    expect(proc.stdout()).toContain('loop ended');
  });

  test('SIGTERM after requests were served: the loop still ends, exit 0 within 1 s', async () => {
    const dir = track(tempDir()).path;
    const sock = path.join(dir, 'app.sock');
    const { proc } = await runFixture(track, { listen: { path: sock } });
    await waitForSocketFile(sock, 15000, { process: proc });
    expect(await get(sock, '/a')).toBe('ok 1');
    expect(await get(sock, '/b')).toBe('ok 2');
    const { ms, status } = await timeToExit(proc, 'SIGTERM');
    expect(status).toEqual({ code: 0, signal: null });
    expect(ms).toBeLessThan(1000);
  });

  test('the socket file is removed when SIGTERM ends the loop', async () => {
    const dir = track(tempDir()).path;
    const sock = path.join(dir, 'app.sock');
    const { proc } = await runFixture(track, { listen: { path: sock } });
    await waitUntilAccepting(proc);
    expect(socketInode(sock)).toBeDefined();
    expect((await timeToExit(proc, 'SIGTERM')).status.code).toBe(0);
    expect(fs.existsSync(sock)).toBe(false);
  });

  test('SIGTERM to a process that never called accept() kills it by the signal: libfcgi installs no handler', async () => {
    const dir = track(tempDir()).path;
    const { proc } = await runFixture(track, { mode: 'construct-only', listen: { path: path.join(dir, 'app.sock') } });
    await waitForOutput(proc, 'constructed');
    const { status } = await timeToExit(proc, 'SIGTERM');
    expect(status).toEqual({ code: null, signal: 'SIGTERM' });
  });

  // Design §3: SIGTERM must still end a process that is not in an accept loop.
  test('SIGTERM after the app left the loop (finish(), break, no close()) kills it by the signal', async () => {
    const dir = track(tempDir()).path;
    const sock = path.join(dir, 'app.sock');
    const { proc } = await runFixture(track, { mode: 'leave-loop', listen: { path: sock } });
    await waitForSocketFile(sock, 15000, { process: proc });
    expect(await get(sock, '/')).toBe('leaving');
    await waitForOutput(proc, 'left loop');
    const { status } = await timeToExit(proc, 'SIGTERM');
    expect(status).toEqual({ code: null, signal: 'SIGTERM' });
  });

  test('SIGINT during accept() ends the process as in any Node program (killed by SIGINT)', async () => {
    const dir = track(tempDir()).path;
    const { proc } = await runFixture(track, { listen: { path: path.join(dir, 'app.sock') } });
    await waitUntilAccepting(proc);
    const { status } = await timeToExit(proc, 'SIGINT');
    expect(status).toEqual({ code: null, signal: 'SIGINT' });
  });
});

describeWithBinaries(['nginx'])('SIGTERM during a request', () => {
  const track = closeAfterEach();

  test('the slow request in progress completes (full HTTP response), then the process exits 0', async () => {
    const dir = track(tempDir()).path;
    const sock = path.join(dir, 'app.sock');
    const { proc } = await runFixture(track, { listen: { path: sock } });
    await waitForSocketFile(sock, 15000, { process: proc });
    const nginx = track(await startNginx({ upstream: { path: sock } }));
    const pending = httpRequest(`${nginx.url}/slow`);
    await waitForOutput(proc, 'slow start'); // the app is inside the request, blocked for 1 s
    proc.kill('SIGTERM');
    const response = await pending;
    expect(response.status).toBe(200);
    expect(response.text).toBe('slow done');
    expect(await proc.exited).toEqual({ code: 0, signal: null });
    expect(proc.stdout()).toBe('accepting\nslow start\nloop ended\n');
  });
});

describe('close()', () => {
  const track = closeAfterEach();

  test('close() inside a request: the response is sent, accept() returns false, the socket file is removed, exit 0', async () => {
    const dir = track(tempDir()).path;
    const sock = path.join(dir, 'app.sock');
    const { proc } = await runFixture(track, { listen: { path: sock } });
    await waitForSocketFile(sock, 15000, { process: proc });
    expect(await get(sock, '/one')).toBe('ok 1');
    expect(await get(sock, '/close')).toBe('closing');
    expect(await proc.exited).toEqual({ code: 0, signal: null });
    expect(fs.existsSync(sock)).toBe(false);
    expect(proc.stdout()).toContain('loop ended');
  });

  test('close() of a FastCGI object that never accepted removes its socket file (in this process)', () => {
    const dir = track(tempDir()).path;
    const sock = path.join(dir, 'app.sock');
    const fcgi = new FastCGI({ path: sock });
    expect(fs.statSync(sock).isSocket()).toBe(true);
    fcgi.close();
    expect(fs.existsSync(sock)).toBe(false);
    expect(fcgi.accept()).toBe(false);
  });
});

describe('refusals and the socket file', () => {
  const track = closeAfterEach();

  test('bad options are a TypeError with a code thrown from the constructor, not an exit', async () => {
    for (const [options, code] of [
      [{ path: 42 }, 'ERR_INVALID_ARG_TYPE'],
      [{ port: 80, path: '/tmp/x.sock' }, 'ERR_INVALID_ARG_VALUE'],
      [{ socket: '/tmp/x.sock' }, 'ERR_INVALID_ARG_VALUE'],
    ] as const) {
      let err: (Error & { code?: string }) | undefined;
      try {
        new FastCGI(options as never);
      } catch (e) {
        err = e as Error & { code?: string };
      }
      expect({ options, name: err?.name, code: err?.code }).toEqual({ options, name: 'TypeError', code });
    }
    // The same in an app process: the error is catchable there too.
    const result = await constructionError(track, { listen: { port: 'http' } });
    expect(result).toMatchObject({ status: { code: 3, signal: null }, name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' });
    expect(result.message).toContain('options.port');
  });

  test('a path a live app listens on is refused with EADDRINUSE, and that app keeps serving', async () => {
    const dir = track(tempDir()).path;
    const sock = path.join(dir, 'app.sock');
    const { proc } = await runFixture(track, { listen: { path: sock } });
    await waitForSocketFile(sock, 15000, { process: proc });
    const inode = socketInode(sock);
    const result = await constructionError(track, { listen: { path: sock } });
    expect(result).toMatchObject({ status: { code: 3 }, name: 'Error', code: 'EADDRINUSE', errno: -98 });
    expect(result.message).toContain(sock);
    expect(socketInode(sock)).toBe(inode);
    expect(await get(sock, '/still-here')).toBe('ok 1');
  });

  test('a TCP port in use is refused with EADDRINUSE', async () => {
    const port = await freePort();
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    track({ close: () => new Promise<void>((resolve) => server.close(() => resolve())) });
    let err: (Error & { code?: string; syscall?: string }) | undefined;
    try {
      new FastCGI({ port });
    } catch (e) {
      err = e as Error & { code?: string; syscall?: string };
    }
    expect({ code: err?.code, syscall: err?.syscall }).toEqual({ code: 'EADDRINUSE', syscall: 'bind' });
  });

  test('a stale socket file left by a SIGKILLed app is replaced by the next app, which serves', async () => {
    const dir = track(tempDir()).path;
    const sock = path.join(dir, 'app.sock');
    const first = await runFixture(track, { listen: { path: sock } });
    await waitForSocketFile(sock, 15000, { process: first.proc });
    const staleInode = socketInode(sock);
    expect(await first.proc.close({ signal: 'SIGKILL' })).toEqual({ code: null, signal: 'SIGKILL' });
    expect(socketInode(sock)).toBe(staleInode); // nobody cleaned up after the kill
    const second = await runFixture(track, { listen: { path: sock } });
    // Not waitForSocketFile's previousIno: the new socket may well reuse the freed inode number.
    await waitForOutput(second.proc, 'accepting');
    expect(await get(sock, '/')).toBe('ok 1');
  });

  test('a regular file or a directory at the path is refused with EEXIST and left untouched', async () => {
    const dir = track(tempDir()).path;
    const file = path.join(dir, 'not-a-socket');
    fs.writeFileSync(file, 'precious data');
    const before = fs.statSync(file);
    const result = await constructionError(track, { listen: { path: file } });
    expect(result).toMatchObject({ status: { code: 3 }, code: 'EEXIST' });
    expect(result.message).toContain(file);
    expect(fs.readFileSync(file, 'utf8')).toBe('precious data');
    const after = fs.statSync(file);
    expect([after.ino, after.mtimeMs, after.mode]).toEqual([before.ino, before.mtimeMs, before.mode]);

    const subdir = path.join(dir, 'a-directory');
    fs.mkdirSync(subdir);
    expect((await constructionError(track, { listen: { path: subdir } })).code).toBe('EEXIST');
    expect(fs.statSync(subdir).isDirectory()).toBe(true);
  });

  test('mode: 0o660 gives the socket file exactly those permissions', () => {
    const dir = track(tempDir()).path;
    const sock = path.join(dir, 'app.sock');
    const fcgi = new FastCGI({ path: sock, mode: 0o660 });
    track(fcgi);
    expect(fs.statSync(sock).mode & 0o777).toBe(0o660);
    const other = new FastCGI({ path: path.join(dir, 'other.sock'), mode: 0o600 });
    track(other);
    expect(fs.statSync(path.join(dir, 'other.sock')).mode & 0o777).toBe(0o600);
  });

  test('{ fd } of a file that is not a socket is refused with ENOTSOCK', () => {
    const fd = fs.openSync('/dev/null', 'r');
    track({ close: () => fs.closeSync(fd) });
    let err: (Error & { code?: string; syscall?: string }) | undefined;
    try {
      new FastCGI({ fd });
    } catch (e) {
      err = e as Error & { code?: string };
    }
    expect(err?.code).toBe('ENOTSOCK');
    expect(err?.message).toContain(`fd ${fd}`);
  });

  test('{ fd } of a descriptor that is not open is refused with EBADF', () => {
    let err: (Error & { code?: string }) | undefined;
    try {
      new FastCGI({ fd: 1_000_000 });
    } catch (e) {
      err = e as Error & { code?: string };
    }
    expect(err?.code).toBe('EBADF');
  });

  test('no options when fd 0 is a socket but not a listening one: an error with a code that says what to do', async () => {
    // A child's stdin 'pipe' is one end of a socketpair: a connected, not a listening, socket.
    const result = await constructionError(track, { stdin: 'pipe' });
    expect(result.status).toEqual({ code: 3, signal: null });
    expect(result.code).toMatch(/^(EINVAL|ENOTSOCK)$/);
    expect(result.message).toContain('fd 0 is not a listening socket');
    expect(result.message).toContain('spawn-fcgi');
  });

  test('no options when fd 0 is /dev/null: ENOTSOCK with the same advice', async () => {
    const result = await constructionError(track, { stdin: 'ignore' });
    expect(result).toMatchObject({ status: { code: 3 }, code: 'ENOTSOCK' });
    expect(result.message).toContain('pass { path } or { port }');
  });
});
