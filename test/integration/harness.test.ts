// Proves the integration harness itself: real web servers from Debian's packages, started and stopped by the
// helpers, in front of the tiny fake FastCGI app (not the package: this must work before the package does).
import fs from 'fs';
import net from 'net';
import path from 'path';
import { nginxConfig, startNginx } from '../helpers/nginx';
import { startApache } from '../helpers/apache';
import { startLighttpd } from '../helpers/lighttpd';
import { phpFpmBinaryName, startPhpFpm } from '../helpers/php-fpm';
import { startSpawnFcgi } from '../helpers/spawn-fcgi';
import { startFakeApp, writeFakeApp } from '../helpers/fake-app';
import { describeWithBinaries } from '../helpers/binaries';
import { closeAfterEach } from '../helpers/cleanup';
import { httpRequest } from '../helpers/http';
import { freePort } from '../helpers/ports';
import { openFdCount, rssBytes, startProcess, threadCount, waitForSocket } from '../helpers/process';
import { makeTempDir } from '../helpers/tmp';

/** Every PID is gone: `process.kill(pid, 0)` fails with ESRCH (exited and reaped). */
function expectGone(pids: number[]): void {
  for (const pid of pids) {
    let code: string | undefined;
    try {
      process.kill(pid, 0);
    } catch (err) {
      code = (err as NodeJS.ErrnoException).code;
    }
    expect({ pid, code }).toEqual({ pid, code: 'ESRCH' });
  }
}

/** A temp dir removed after the test. */
function scratchDir(track: ReturnType<typeof closeAfterEach>): string {
  const dir = makeTempDir();
  track({ close: () => fs.rmSync(dir, { recursive: true, force: true }) });
  return dir;
}

describe('process helpers', () => {
  const track = closeAfterEach();

  test('freePort returns a port that can be listened on', async () => {
    const port = await freePort();
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  test('waitForSocket rejects naming the target when nothing listens within the timeout', async () => {
    const dir = scratchDir(track);
    const target = path.join(dir, 'nobody.sock');
    await expect(waitForSocket({ path: target }, 200)).rejects.toThrow(`unix:${target} within 200 ms`);
  });

  test('startProcess collects output and close() ends a process that ignores SIGTERM with SIGKILL', async () => {
    const script = "process.on('SIGTERM', () => {}); console.log('ready'); setInterval(() => {}, 1000);";
    const proc = track(await startProcess(process.execPath, ['-e', script]));
    await new Promise<void>((resolve) => proc.child.stdout?.once('data', () => resolve()));
    expect(proc.stdout()).toBe('ready\n');
    expect(await proc.close({ timeoutMs: 200 })).toEqual({ code: null, signal: 'SIGKILL' });
    expectGone([proc.pid]);
  });

  test('startProcess rejects with the command when the binary does not exist', async () => {
    await expect(startProcess('/nonexistent/binary', [])).rejects.toThrow('cannot start /nonexistent/binary');
  });

  test('/proc probes read fd count, RSS and thread count of a live process', () => {
    expect(openFdCount(process.pid)).toBeGreaterThan(2);
    expect(rssBytes(process.pid)).toBeGreaterThan(1024 * 1024);
    expect(threadCount(process.pid)).toBeGreaterThanOrEqual(1);
  });
});

describe('nginxConfig', () => {
  test('is self-contained: all paths in the temp dir, none under /etc or /var', () => {
    const text = nginxConfig({ upstream: { path: '/tmp/d/app.sock' } }, { dir: '/tmp/n', port: 8080, asRoot: false });
    expect(text).toContain('daemon off;');
    expect(text).toContain('listen 127.0.0.1:8080;');
    expect(text).toContain('server unix:/tmp/d/app.sock;');
    expect(text).not.toMatch(/\/etc\/|\/var\/|^user /m);
    for (const line of text.split('\n').filter((l) => /_path |^pid |error_log|access_log/.test(l.trim()))) {
      expect(line).toContain('"/tmp/n/');
    }
  });

  test('a fastcgi_param in extraLocationConf replaces the default one', () => {
    const text = nginxConfig(
      { upstream: { host: '127.0.0.1', port: 9000 }, extraLocationConf: 'fastcgi_param SCRIPT_FILENAME /s/i.php;' },
      { dir: '/tmp/n', port: 8080 },
    );
    expect(text.match(/fastcgi_param SCRIPT_FILENAME/g)).toHaveLength(1);
    expect(text).toContain('fastcgi_param SCRIPT_FILENAME /s/i.php;');
  });

  test('keepConn turns on fastcgi_keep_conn and an upstream keepalive pool', () => {
    const text = nginxConfig({ upstream: { path: '/a' }, keepConn: true, keepalive: 4 }, { dir: '/tmp/n', port: 1 });
    expect(text).toContain('fastcgi_keep_conn on;');
    expect(text).toContain('keepalive 4;');
  });
});

describeWithBinaries(['nginx'])('nginx in front of a FastCGI app', () => {
  const track = closeAfterEach();

  test('GET /x through a unix socket answers 200 "hello /x"; close() stops master and worker', async () => {
    const dir = scratchDir(track);
    const app = track(await startFakeApp({ path: path.join(dir, 'app.sock') }));
    const nginx = track(await startNginx({ upstream: app.address }));
    const response = await httpRequest(`${nginx.url}/x`);
    expect(response.status).toBe(200);
    expect(response.text).toBe('hello /x');
    expect(response.headers['content-type']).toBe('text/plain');
    const pids = nginx.pids();
    expect(pids.length).toBe(2);
    await nginx.close();
    expectGone(pids);
    expect(fs.existsSync(nginx.dir)).toBe(false);
  });

  test('GET /x through loopback TCP answers 200 "hello /x"', async () => {
    const app = track(await startFakeApp({ host: '127.0.0.1', port: 0 }));
    const nginx = track(await startNginx({ upstream: app.address }));
    const response = await httpRequest(`${nginx.url}/x`);
    expect(response.status).toBe(200);
    expect(response.text).toBe('hello /x');
    expect(nginx.accessLog()).toContain('"GET /x HTTP/1.1" 200');
  });

  test('a POST body reaches the app as FCGI_STDIN with the standard params', async () => {
    const dir = scratchDir(track);
    const app = track(await startFakeApp({ path: path.join(dir, 'app.sock') }));
    const nginx = track(await startNginx({ upstream: app.address }));
    const body = 'a=1&b=2';
    const response = await httpRequest(`${nginx.url}/form?q=1`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body,
    });
    expect(response.text).toBe('hello /form?q=1');
    const [request] = app.requests;
    expect(request.body.toString()).toBe(body);
    expect(request.env).toMatchObject({
      REQUEST_METHOD: 'POST',
      QUERY_STRING: 'q=1',
      CONTENT_LENGTH: String(body.length),
      CONTENT_TYPE: 'application/x-www-form-urlencoded',
      SCRIPT_NAME: '/form',
      GATEWAY_INTERFACE: 'CGI/1.1',
      SERVER_PORT: String(nginx.port),
    });
  });

  test('keepConn serves several requests over one FastCGI connection; without it, one connection each', async () => {
    const dir = scratchDir(track);
    const kept = track(await startFakeApp({ path: path.join(dir, 'kept.sock') }));
    const single = track(await startFakeApp({ path: path.join(dir, 'single.sock') }));
    const withKeep = track(await startNginx({ upstream: kept.address, keepConn: true }));
    const without = track(await startNginx({ upstream: single.address }));
    for (let i = 0; i < 3; i++) {
      expect((await httpRequest(`${withKeep.url}/k${i}`)).text).toBe(`hello /k${i}`);
      expect((await httpRequest(`${without.url}/s${i}`)).text).toBe(`hello /s${i}`);
    }
    expect(kept.connections).toBe(1);
    expect(single.connections).toBe(3);
  });
});

describeWithBinaries(['apache2'])('Apache in front of a FastCGI app', () => {
  const track = closeAfterEach();

  test('mod_proxy_fcgi over a unix socket: GET /x answers 200 "hello /x"; close() stops every process', async () => {
    const dir = scratchDir(track);
    const app = track(await startFakeApp({ path: path.join(dir, 'app.sock') }));
    const apache = track(await startApache({ mode: 'proxy_fcgi', upstream: app.address }));
    const response = await httpRequest(`${apache.url}/x`);
    expect(response.status).toBe(200);
    expect(response.text).toBe('hello /x');
    const pids = apache.pids();
    await apache.close();
    expectGone(pids);
  });

  test('mod_proxy_fcgi over loopback TCP: GET /x answers 200 "hello /x"', async () => {
    const app = track(await startFakeApp({ host: '127.0.0.1', port: 0 }));
    const apache = track(await startApache({ mode: 'proxy_fcgi', upstream: app.address }));
    const response = await httpRequest(`${apache.url}/x?y=1`);
    expect(response.status).toBe(200);
    expect(response.text).toBe('hello /x?y=1');
    expect(app.requests[0].env).toMatchObject({ REQUEST_METHOD: 'GET', QUERY_STRING: 'y=1', REQUEST_URI: '/x?y=1' });
  });

  test('mod_fcgid starts the app with the listening socket on fd 0; close() stops the app too', async () => {
    const dir = scratchDir(track);
    const { wrapper } = writeFakeApp(dir);
    const apache = track(await startApache({ mode: 'fcgid', command: wrapper }));
    const response = await httpRequest(`${apache.url}/x`);
    expect(response.status).toBe(200);
    expect(response.text).toBe('hello /x');
    const pids = apache.pids();
    // parent, worker child, fcgid process manager, the app
    expect(pids.length).toBeGreaterThanOrEqual(4);
    await apache.close();
    expectGone(pids);
  });
});

describeWithBinaries(['lighttpd'])('lighttpd in front of a FastCGI app', () => {
  const track = closeAfterEach();

  test('mod_fastcgi over a unix socket: GET /x answers 200 "hello /x"', async () => {
    const dir = scratchDir(track);
    const app = track(await startFakeApp({ path: path.join(dir, 'app.sock') }));
    const lighttpd = track(await startLighttpd({ upstream: app.address }));
    const response = await httpRequest(`${lighttpd.url}/x`);
    expect(response.status).toBe(200);
    expect(response.text).toBe('hello /x');
    const pids = lighttpd.pids();
    await lighttpd.close();
    expectGone(pids);
  });

  test('bin-path: lighttpd spawns the app with the socket on fd 0, and close() stops it', async () => {
    const dir = scratchDir(track);
    const { wrapper } = writeFakeApp(dir);
    const lighttpd = track(await startLighttpd({ spawn: { command: wrapper, socketPath: path.join(dir, 's.sock') } }));
    const response = await httpRequest(`${lighttpd.url}/x`);
    expect(response.text).toBe('hello /x');
    const pids = lighttpd.pids();
    expect(pids.length).toBe(2);
    await lighttpd.close();
    expectGone(pids);
  });
});

describeWithBinaries(['nginx', phpFpmBinaryName()])('php-fpm behind nginx', () => {
  const track = closeAfterEach();

  test('serves a PHP script chosen by SCRIPT_FILENAME; close() stops master and worker', async () => {
    const dir = scratchDir(track);
    const script = path.join(dir, 'index.php');
    fs.writeFileSync(script, '<?php echo "php ok";');
    const fpm = track(await startPhpFpm({ socketPath: path.join(dir, 'php.sock'), scriptDir: dir }));
    const nginx = track(
      await startNginx({
        upstream: { path: path.join(dir, 'php.sock') },
        extraLocationConf: `fastcgi_param SCRIPT_FILENAME ${script};`,
      }),
    );
    const response = await httpRequest(`${nginx.url}/anything`);
    expect(response.status).toBe(200);
    expect(response.text).toBe('php ok');
    const pids = fpm.pids();
    expect(pids.length).toBe(2);
    await fpm.close();
    expectGone(pids);
  });
});

describeWithBinaries(['nginx', 'spawn-fcgi'])('spawn-fcgi behind nginx', () => {
  const track = closeAfterEach();

  test('one app (-n) on fd 0 answers "hello /x"; close() stops it', async () => {
    const dir = scratchDir(track);
    const { script } = writeFakeApp(dir);
    const spawned = track(await startSpawnFcgi({ socketPath: path.join(dir, 'app.sock'), command: [process.execPath, script] }));
    const nginx = track(await startNginx({ upstream: { path: spawned.socketPath } }));
    const response = await httpRequest(`${nginx.url}/x`);
    expect(response.status).toBe(200);
    expect(response.text).toBe('hello /x');
    await nginx.close();
    await spawned.close();
    expectGone(spawned.pids);
  });

  test('two forked apps (-F 2) share the socket; close() stops both by PID', async () => {
    const dir = scratchDir(track);
    const { script } = writeFakeApp(dir);
    const socketPath = path.join(dir, 'app.sock');
    const spawned = track(await startSpawnFcgi({ socketPath, command: [process.execPath, script], children: 2 }));
    expect(spawned.pids).toHaveLength(2);
    const nginx = track(await startNginx({ upstream: { path: spawned.socketPath } }));
    for (const uri of ['/a', '/b', '/c']) expect((await httpRequest(`${nginx.url}${uri}`)).text).toBe(`hello ${uri}`);
    await nginx.close();
    await spawned.close();
    expectGone(spawned.pids);
  });
});
