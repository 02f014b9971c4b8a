// systemd socket activation with the real systemd-socket-activate: no listen options, the app takes the socket
// systemd passed (fd 3.., LISTEN_FDS/LISTEN_PID, LISTEN_FDNAMES with { fdName }), unix and TCP, sync loop and
// concurrent server, behind nginx; and the errors when the variables are for another process or name no socket.
import net from 'net';
import path from 'path';
import { appCommand, appEnv, example, fixture } from '../helpers/app-process';
import { describeWithBinaries } from '../helpers/binaries';
import { closeAfterEach } from '../helpers/cleanup';
import { httpRequest } from '../helpers/http';
import { startNginx } from '../helpers/nginx';
import { startSocketActivate, type SocketActivated } from '../helpers/systemd-socket-activate';
import { tempDir } from '../helpers/tmp';
import type { SocketTarget } from '../helpers/process';

const APP = fixture('interop-app.ts');
type Api = 'sync' | 'server';

/** Connects once (systemd-socket-activate execs the app on the first connection) and waits for the app to exit. */
async function firstConnectionThenExit(activated: SocketActivated, target: SocketTarget): Promise<{ code: number | null; stderr: string }> {
  const socket = 'path' in target ? net.connect(target.path) : net.connect(target.port, target.host);
  socket.on('error', () => {}); // the app dies without answering: a reset is expected
  const status = await activated.process.exited;
  socket.destroy();
  return { code: status.code, stderr: activated.process.stderr() };
}

describeWithBinaries(['systemd-socket-activate', 'nginx'])('systemd socket activation (systemd-socket-activate)', () => {
  const track = closeAfterEach();

  describe.each<[Api, 'unix' | 'tcp']>([
    ['sync', 'unix'],
    ['sync', 'tcp'],
    ['server', 'unix'],
    ['server', 'tcp'],
  ])('%s API, %s socket', (api, kind) => {
    test('no listen options: the app serves on the passed socket (fd 3), LISTEN_* are gone from its env, SIGTERM exits 0', async () => {
      const dir = track(tempDir()).path;
      const activated = track(
        await startSocketActivate({
          listen: [kind === 'unix' ? { path: path.join(dir, 'app.sock') } : { tcp: true }],
          command: appCommand(APP),
          env: appEnv({ INTEROP_API: api }),
        }),
      );
      const nginx = track(await startNginx({ upstream: activated.addresses[0] }));
      const hello = await httpRequest(`${nginx.url}/`);
      // The exec keeps systemd-socket-activate's PID: the app is the process LISTEN_PID named.
      expect({ status: hello.status, text: hello.text }).toEqual({ status: 200, text: `hello from ${activated.pid}` });
      const env = await httpRequest(`${nginx.url}/env`);
      expect(JSON.parse(env.text)).toEqual({}); // removed after use, as sd_listen_fds(1): children do not inherit them
      expect((await httpRequest(`${nginx.url}/utf8`)).status).toBe(200);
      expect(await activated.process.close()).toEqual({ code: 0, signal: null });
      expect(activated.process.stderr()).toContain(api === 'sync' ? 'loop ended' : 'closed');
    });
  });

  test.each<Api>(['sync', 'server'])('%s API, { fdName }: picks the named one of two passed sockets', async (api) => {
    const dir = track(tempDir()).path;
    const activated = track(
      await startSocketActivate({
        listen: [{ path: path.join(dir, 'other.sock') }, { tcp: true }],
        fdNames: ['other', 'fastcgi'],
        command: appCommand(APP),
        env: appEnv({ INTEROP_API: api, INTEROP_FDNAME: 'fastcgi' }),
      }),
    );
    const nginx = track(await startNginx({ upstream: activated.addresses[1] }));
    const hello = await httpRequest(`${nginx.url}/`);
    expect({ status: hello.status, text: hello.text }).toEqual({ status: 200, text: `hello from ${activated.pid}` });
    expect(await activated.process.close()).toEqual({ code: 0, signal: null });
  });

  test('two passed sockets and no { fdName }: an error that lists them and says to choose', async () => {
    const dir = track(tempDir()).path;
    const activated = track(
      await startSocketActivate({
        listen: [{ path: path.join(dir, 'a.sock') }, { path: path.join(dir, 'b.sock') }],
        fdNames: ['first', 'second'],
        command: appCommand(APP),
        env: appEnv(),
      }),
    );
    const result = await firstConnectionThenExit(activated, activated.addresses[0]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('FCGI_LISTEN_FDS');
    expect(result.stderr).toContain('2 sockets were passed: first (fd 3), second (fd 4); choose one with { fdName }');
  });

  test('server.listen({ fdName }) naming a socket that was not passed: a rejection that says so and lists the passed ones', async () => {
    const dir = track(tempDir()).path;
    const activated = track(
      await startSocketActivate({
        listen: [{ path: path.join(dir, 'a.sock') }],
        fdNames: ['web'],
        command: appCommand(APP),
        env: appEnv({ INTEROP_API: 'server', INTEROP_FDNAME: 'fastcgi' }),
      }),
    );
    const result = await firstConnectionThenExit(activated, activated.addresses[0]);
    expect(result.code).toBe(3); // the server's listen() rejected (the fixture exits 3)
    expect(result.stderr).toContain("no socket named 'fastcgi' was passed (options.fdName); LISTEN_FDNAMES has: web (fd 3)");
  });

  test('LISTEN_PID of another process (a wrapper that forks instead of exec): an error that says so', async () => {
    const dir = track(tempDir()).path;
    const [node, ...args] = appCommand(APP);
    const activated = track(
      await startSocketActivate({
        listen: [{ path: path.join(dir, 'a.sock') }],
        // sh runs node as its child (no exec): LISTEN_PID is the shell's PID, not node's.
        command: ['/bin/sh', '-c', '"$@"; exit $?', 'sh', node, ...args],
        env: appEnv(),
      }),
    );
    const result = await firstConnectionThenExit(activated, activated.addresses[0]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(new RegExp(`LISTEN_FDS=1 is for process ${activated.pid} \\(LISTEN_PID\\), not this process \\(\\d+\\)`));
  });

  test('examples/hello.ts as examples/systemd/libfcgi-hello.service runs it: the counter counts 1, 2, 3', async () => {
    const dir = track(tempDir()).path;
    const activated = track(
      await startSocketActivate({
        listen: [{ path: path.join(dir, 'hello.sock') }],
        command: appCommand(example('hello.ts')),
        env: appEnv(),
      }),
    );
    const nginx = track(await startNginx({ upstream: activated.addresses[0] }));
    for (const expected of ['1', '2', '3']) expect((await httpRequest(`${nginx.url}/`)).text).toBe(expected);
    expect(await activated.process.close()).toEqual({ code: 0, signal: null });
  });
});
