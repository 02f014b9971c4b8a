// The counter (examples/hello.ts) deployed every other way: spawn-fcgi, Apache (proxy_fcgi, fcgid), lighttpd.
import path from 'path';
import { APACHE_USER, startApache } from '../helpers/apache';
import { appCommand, appEnv, example, startApp, writeAppWrapper } from '../helpers/app-process';
import { describeWithBinaries } from '../helpers/binaries';
import { closeAfterEach } from '../helpers/cleanup';
import { httpRequest } from '../helpers/http';
import { startLighttpd } from '../helpers/lighttpd';
import { startNginx } from '../helpers/nginx';
import { startSpawnFcgi } from '../helpers/spawn-fcgi';
import { tempDir } from '../helpers/tmp';
import { runningAsRoot } from '../helpers/web-server';

/** GETs `url` three times: the counter must answer 1, 2, 3 as text/html. */
async function expectCounter(url: string): Promise<void> {
  for (const expected of ['1', '2', '3']) {
    const response = await httpRequest(url);
    expect({ status: response.status, type: response.headers['content-type'], text: response.text }).toEqual({
      status: 200,
      type: 'text/html',
      text: expected,
    });
  }
}

describeWithBinaries(['nginx', 'spawn-fcgi'])('hello.ts under spawn-fcgi (socket on fd 0) behind nginx', () => {
  const track = closeAfterEach();

  test('new FastCGI() without options serves on the inherited fd 0: the counter counts 1, 2, 3', async () => {
    const dir = track(tempDir()).path;
    const spawned = track(
      await startSpawnFcgi({ socketPath: path.join(dir, 'hello.sock'), command: appCommand(example('hello.ts')), env: appEnv() }),
    );
    const nginx = track(await startNginx({ upstream: { path: spawned.socketPath } }));
    await expectCounter(`${nginx.url}/`);
  });

  test('SIGTERM ends the app with exit code 0 (spawn-fcgi -n: the app is the process we started)', async () => {
    const dir = track(tempDir()).path;
    const spawned = track(
      await startSpawnFcgi({ socketPath: path.join(dir, 'hello.sock'), command: appCommand(example('hello.ts')), env: appEnv() }),
    );
    const nginx = track(await startNginx({ upstream: { path: spawned.socketPath } }));
    await expectCounter(`${nginx.url}/`);
    expect(await spawned.process?.close()).toEqual({ code: 0, signal: null });
  });

  test('two processes (spawn-fcgi -F 2) share the inherited socket: every request is answered', async () => {
    const dir = track(tempDir()).path;
    const spawned = track(
      await startSpawnFcgi({
        socketPath: path.join(dir, 'hello.sock'),
        command: appCommand(example('hello.ts')),
        env: appEnv(),
        children: 2,
      }),
    );
    const nginx = track(await startNginx({ upstream: { path: spawned.socketPath } }));
    const answers = await Promise.all(Array.from({ length: 20 }, () => httpRequest(`${nginx.url}/`)));
    expect(answers.every((r) => r.status === 200)).toBe(true);
    // Each process counts its own requests: the answers are 1..a from one and 1..(20 - a) from the other.
    const counts = (n: number) => Array.from({ length: n }, (_, i) => i + 1);
    const possible = counts(21).map((a) => [...counts(a - 1), ...counts(21 - a)].sort((x, y) => x - y));
    expect(possible).toContainEqual(answers.map((r) => Number(r.text)).sort((x, y) => x - y));
  });
});

describeWithBinaries(['apache2'])('hello.ts behind Apache', () => {
  const track = closeAfterEach();

  test('mod_proxy_fcgi over a unix socket: the counter counts 1, 2, 3', async () => {
    const dir = track(tempDir()).path;
    const app = track(await startApp(example('hello.ts'), { listen: { path: path.join(dir, 'hello.sock') } }));
    const apache = track(await startApache({ mode: 'proxy_fcgi', upstream: app.address }));
    await expectCounter(`${apache.url}/`);
  });

  test('mod_proxy_fcgi with enablereuse=on (kept connections): the counter counts 1, 2, 3', async () => {
    const dir = track(tempDir()).path;
    const app = track(await startApp(example('hello.ts'), { listen: { path: path.join(dir, 'hello.sock') } }));
    const apache = track(await startApache({ mode: 'proxy_fcgi', upstream: app.address, keepConn: true }));
    await expectCounter(`${apache.url}/`);
  });

  const asUser = runningAsRoot() ? `, as ${APACHE_USER}` : '';
  test(`mod_fcgid starts hello.ts itself (socket on fd 0${asUser}): the counter counts 1, 2, 3`, async () => {
    const dir = track(tempDir()).path;
    const apache = track(await startApache({ mode: 'fcgid', command: writeAppWrapper(dir, example('hello.ts')), maxProcesses: 1 }));
    await expectCounter(`${apache.url}/`);
  });
});

describeWithBinaries(['lighttpd'])('hello.ts behind lighttpd', () => {
  const track = closeAfterEach();

  test("mod_fastcgi to the app's existing unix socket: the counter counts 1, 2, 3", async () => {
    const dir = track(tempDir()).path;
    const app = track(await startApp(example('hello.ts'), { listen: { path: path.join(dir, 'hello.sock') } }));
    const lighttpd = track(await startLighttpd({ upstream: app.address }));
    await expectCounter(`${lighttpd.url}/`);
  });

  test('bin-path: lighttpd starts hello.ts with the socket on fd 0: the counter counts 1, 2, 3', async () => {
    const dir = track(tempDir()).path;
    const lighttpd = track(
      await startLighttpd({ spawn: { command: writeAppWrapper(dir, example('hello.ts')), socketPath: path.join(dir, 'hello.sock') } }),
    );
    await expectCounter(`${lighttpd.url}/`);
  });
});
