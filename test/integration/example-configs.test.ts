// The deployment examples are valid and work: examples/nginx.conf, apache.conf, lighttpd.conf, spawn-fcgi.sh and
// systemd/, each checked by the server's own config test and then used, unchanged but for paths and ports, in front
// of examples/hello.ts.
import { execFile } from 'child_process';
import fs from 'fs';
import path from 'path';
import { httpdConfForSite } from '../helpers/apache';
import { appCommand, appEnv, example, exampleWith, startApp, writeAppWrapper } from '../helpers/app-process';
import { describeWithBinaries, findBinary, underCI } from '../helpers/binaries';
import { closeAfterEach } from '../helpers/cleanup';
import { startCountingProxy } from '../helpers/counting-proxy';
import { httpRequest } from '../helpers/http';
import { startNginx } from '../helpers/nginx';
import { retryOnAddressInUse } from '../helpers/ports';
import { startProcess, waitForSocketFile } from '../helpers/process';
import { startSpawnFcgi } from '../helpers/spawn-fcgi';
import { tempDir } from '../helpers/tmp';
import { inDir, launch, quote, runningAsRoot, shareWithServerUser, type ServerProcess } from '../helpers/web-server';

/** The socket path, listen address and wrapper the examples name; the tests put their own in their place. */
const EXAMPLE_SOCKET = '/run/libfcgi/hello.sock';
const EXAMPLE_WRAPPER = '/usr/local/bin/libfcgi-hello';

/** Runs a command; resolves with its exit code and output (never rejects for a non-zero exit). */
function runCommand(cmd: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: 20000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** GETs `url` three times: the counter must answer 1, 2, 3. */
async function expectCounter(url: string): Promise<void> {
  for (const expected of ['1', '2', '3']) {
    const response = await httpRequest(url);
    expect({ status: response.status, text: response.text }).toEqual({ status: 200, text: expected });
  }
}

/** Starts hello.ts on `dir`/hello.sock, reachable by a server running as another user; returns the socket path. */
async function startHello(track: ReturnType<typeof closeAfterEach>, dir: string): Promise<string> {
  const socket = path.join(dir, 'hello.sock');
  track(await startApp(example('hello.ts'), { listen: { path: socket } }));
  shareWithServerUser(socket);
  return socket;
}

/**
 * Starts a web server on a free port with the config `writeConfig(port)` writes into `dir` (retrying when the port
 * was taken meanwhile) and waits until it listens. `args` are its arguments for that config file.
 */
async function startServer(
  dir: string,
  command: string,
  writeConfig: (port: number) => string,
  args: (configFile: string) => string[],
): Promise<ServerProcess & { url: string }> {
  return retryOnAddressInUse(async (port) => {
    const configFile = writeConfig(port);
    const server = await launch({
      dir,
      command,
      args: args(configFile),
      configFile,
      configText: fs.readFileSync(configFile, 'utf8'),
      ready: { tcpPort: port },
      errorLogFile: inDir(dir, 'error.log'),
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LANG: 'C' },
    });
    return { ...server, url: `http://127.0.0.1:${port}` };
  });
}

/** The keep-alive variant of examples/nginx.conf: its two commented lines, uncommented. */
const KEEPALIVE_LINES: Array<[string, string]> = [
  ['# keepalive 8;', 'keepalive 8;'],
  ['# fastcgi_keep_conn on;', 'fastcgi_keep_conn on;'],
];

describeWithBinaries(['nginx'])('examples/nginx.conf', () => {
  const track = closeAfterEach();
  const nginx = findBinary('nginx') as string;

  /** The server block, with a main context around it, written to `dir` (Debian's fastcgi_params next to it). */
  function writeConfig(dir: string, port: number, socket: string, keepalive: boolean): string {
    fs.copyFileSync('/etc/nginx/fastcgi_params', inDir(dir, 'fastcgi_params'));
    const server = exampleWith('nginx.conf', [
      ['listen 80;', `listen 127.0.0.1:${port};`],
      [EXAMPLE_SOCKET, socket],
      ...(keepalive ? KEEPALIVE_LINES : []),
    ]);
    fs.writeFileSync(inDir(dir, 'server.conf'), server);
    const configFile = inDir(dir, 'nginx.conf');
    fs.writeFileSync(
      configFile,
      [
        'daemon off;',
        ...(runningAsRoot() ? ['user root;'] : []),
        `pid ${quote(inDir(dir, 'nginx.pid'))};`,
        `error_log ${quote(inDir(dir, 'error.log'))} info;`,
        'events { worker_connections 256; }',
        'http {',
        `  access_log ${quote(inDir(dir, 'access.log'))};`,
        ...['client_body', 'fastcgi', 'proxy', 'uwsgi', 'scgi'].map((t) => `  ${t}_temp_path ${quote(inDir(dir, t))};`),
        `  include ${quote(inDir(dir, 'server.conf'))};`,
        '}',
        '',
      ].join('\n'),
    );
    return configFile;
  }

  const nginxArgs = (dir: string, configFile: string) => ['-p', `${dir}/`, '-c', configFile, '-e', inDir(dir, 'error.log')];

  test.each([
    ['as shipped', false],
    ['with the keep-alive lines uncommented', true],
  ])('passes nginx -t %s', async (_, keepalive) => {
    const dir = track(tempDir()).path;
    const configFile = writeConfig(dir, 8080, path.join(dir, 'hello.sock'), keepalive);
    const result = await runCommand(nginx, ['-t', ...nginxArgs(dir, configFile)]);
    expect(result).toMatchObject({ code: 0 });
    expect(result.stderr).toContain('test is successful');
  });

  test('serves the counter from hello.ts on its unix socket', async () => {
    const dir = track(tempDir()).path;
    const socket = await startHello(track, dir);
    const server = track(
      await startServer(
        dir,
        nginx,
        (port) => writeConfig(dir, port, socket, false),
        (file) => nginxArgs(dir, file),
      ),
    );
    await expectCounter(`${server.url}/`);
  });

  test('keep-alive variant: the counter over one kept FastCGI connection', async () => {
    const dir = track(tempDir()).path;
    const proxy = track(await startCountingProxy(path.join(dir, 'proxy.sock'), { path: await startHello(track, dir) }));
    const server = track(
      await startServer(
        dir,
        nginx,
        (port) => writeConfig(dir, port, proxy.address.path, true),
        (file) => nginxArgs(dir, file),
      ),
    );
    await expectCounter(`${server.url}/`);
    expect(proxy.connections).toBe(1);
  });
});

describeWithBinaries(['apache2'])('examples/apache.conf', () => {
  const track = closeAfterEach();
  const apache2 = findBinary('apache2') as string;
  type Variant = 'proxy_fcgi' | 'fcgid';

  /** httpd.conf loading the modules of `variants` and including the example (site.conf) for `port`. */
  function writeConfig(dir: string, port: number, variants: Variant[], socket: string, wrapper: string): string {
    const site = exampleWith('apache.conf', [
      ['<VirtualHost *:80>', `<VirtualHost *:${port}>`],
      [EXAMPLE_SOCKET, socket],
      [EXAMPLE_WRAPPER, wrapper],
    ]);
    fs.writeFileSync(inDir(dir, 'site.conf'), site);
    const fcgid = variants.includes('fcgid');
    const modules = ['mpm_event', 'authz_core', ...(variants.includes('proxy_fcgi') ? ['proxy', 'proxy_fcgi'] : [])];
    if (fcgid) modules.push('fcgid');
    const configFile = inDir(dir, 'httpd.conf');
    const fcgidFiles = [`FcgidIPCDir ${quote(inDir(dir, 'fcgid'))}`, `FcgidProcessTableFile ${quote(inDir(dir, 'fcgid_shm'))}`];
    fs.writeFileSync(configFile, httpdConfForSite(dir, port, modules, fcgid ? fcgidFiles : []));
    return configFile;
  }

  /** The wrapper the comment in apache.conf shows, with this checkout's paths. */
  function writeWrapper(dir: string): string {
    const wrapper = writeAppWrapper(dir, example('hello.ts'), 'libfcgi-hello');
    shareWithServerUser(wrapper);
    return wrapper;
  }

  test.each([[['proxy_fcgi']], [['fcgid']], [['proxy_fcgi', 'fcgid']]] as Array<[Variant[]]>)(
    'passes apache2 -t with mod %j enabled',
    async (variants) => {
      const dir = track(tempDir()).path;
      // mod_fcgid checks that the wrapper exists; proxy_fcgi does not look at the socket.
      const configFile = writeConfig(dir, 8080, variants, path.join(dir, 'hello.sock'), writeWrapper(dir));
      const result = await runCommand(apache2, ['-t', '-f', configFile]);
      expect(result.stdout + result.stderr).toContain('Syntax OK');
      expect(result.code).toBe(0);
    },
  );

  test.each(['proxy_fcgi', 'fcgid'] as Variant[])('variant %s serves the counter from hello.ts', async (variant) => {
    const dir = track(tempDir()).path;
    shareWithServerUser(dir);
    const socket = variant === 'proxy_fcgi' ? await startHello(track, dir) : path.join(dir, 'unused.sock');
    const wrapper = writeWrapper(dir);
    const server = track(
      await startServer(
        dir,
        apache2,
        (port) => writeConfig(dir, port, [variant], socket, wrapper),
        (file) => ['-f', file, '-DFOREGROUND'],
      ),
    );
    await expectCounter(`${server.url}/`);
  });
});

describeWithBinaries(['lighttpd'])('examples/lighttpd.conf', () => {
  const track = closeAfterEach();
  const lighttpd = findBinary('lighttpd') as string;

  /** A main lighttpd.conf as Debian's starts (server.modules defined), including the example. */
  function writeConfig(dir: string, port: number, socket: string): string {
    fs.writeFileSync(inDir(dir, 'site.conf'), exampleWith('lighttpd.conf', [[EXAMPLE_SOCKET, socket]]));
    const configFile = inDir(dir, 'lighttpd.conf');
    fs.writeFileSync(
      configFile,
      [
        'server.modules = ( "mod_access" )',
        `server.document-root = ${quote(dir)}`,
        'server.bind = "127.0.0.1"',
        `server.port = ${port}`,
        `server.errorlog = ${quote(inDir(dir, 'error.log'))}`,
        `include ${quote(inDir(dir, 'site.conf'))}`,
        '',
      ].join('\n'),
    );
    return configFile;
  }

  test('passes lighttpd -tt', async () => {
    const dir = track(tempDir()).path;
    const configFile = writeConfig(dir, 8080, path.join(dir, 'hello.sock'));
    const result = await runCommand(lighttpd, ['-tt', '-f', configFile]);
    expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 0, stderr: '' });
  });

  test('serves the counter from hello.ts on its unix socket', async () => {
    const dir = track(tempDir()).path;
    const socket = await startHello(track, dir);
    const server = track(
      await startServer(
        dir,
        lighttpd,
        (port) => writeConfig(dir, port, socket),
        (file) => ['-D', '-f', file],
      ),
    );
    await expectCounter(`${server.url}/`);
  });
});

describeWithBinaries(['nginx', 'spawn-fcgi'])('examples/spawn-fcgi.sh', () => {
  const track = closeAfterEach();

  test('runs hello.ts on the socket in $SOCKET (fd 0): the counter counts 1, 2, 3; SIGTERM exits 0', async () => {
    const dir = track(tempDir()).path;
    const socket = path.join(dir, 'hello.sock');
    const proc = track(await startProcess(example('spawn-fcgi.sh'), [], { env: appEnv({ SOCKET: socket }) }));
    await waitForSocketFile(socket, 15000, { process: proc });
    expect(fs.statSync(socket).mode & 0o777).toBe(0o660);
    const nginx = track(await startNginx({ upstream: { path: socket } }));
    await expectCounter(`${nginx.url}/`);
    // spawn-fcgi -n execs the app: the process we started is hello.ts itself.
    expect(await proc.close()).toEqual({ code: 0, signal: null });
  });
});

describe('examples/systemd', () => {
  const track = closeAfterEach();
  const analyze = findBinary('systemd-analyze');

  // Outside CI a missing systemd-analyze skips; under CI=true (which installs Debian's systemd) it fails.
  (analyze || underCI ? test : test.skip)('the .socket and .service units pass systemd-analyze verify without a warning', async () => {
    if (analyze === undefined) throw new Error('systemd-analyze is missing (Debian package systemd; see .ci/run)');
    const dir = track(tempDir()).path;
    for (const unit of ['libfcgi-hello.socket', 'libfcgi-hello.service']) {
      const text = exampleWith(`systemd/${unit}`, unit.endsWith('.service') ? [['/usr/bin/node', process.execPath]] : []);
      fs.writeFileSync(inDir(dir, unit), text);
    }
    const units = ['libfcgi-hello.socket', 'libfcgi-hello.service'].map((unit) => inDir(dir, unit));
    const result = await runCommand(analyze, ['verify', '--man=no', ...units]);
    const warnings = (result.stdout + result.stderr).split('\n').filter((line) => line.includes('libfcgi-hello'));
    expect({ code: result.code, warnings }).toEqual({ code: 0, warnings: [] });
  });

  test('the service runs examples/hello.ts; the socket listens where the other examples connect', () => {
    const service = fs.readFileSync(example('systemd/libfcgi-hello.service'), 'utf8');
    expect(service).toMatch(/^ExecStart=\S*node --import tsx examples\/hello\.ts$/m);
    const socketUnit = fs.readFileSync(example('systemd/libfcgi-hello.socket'), 'utf8');
    expect(socketUnit).toMatch(new RegExp(`^ListenStream=${EXAMPLE_SOCKET}$`, 'm'));
  });

  describeWithBinaries(['nginx', 'spawn-fcgi'])('socket activation as systemd does it', () => {
    test('LISTEN_FDS=1 with the listening socket on fd 3 (fd 0 is /dev/null): the counter counts 1, 2, 3', async () => {
      const dir = track(tempDir()).path;
      const socket = path.join(dir, 'hello.sock');
      // spawn-fcgi puts the socket on fd 0; the shell moves it to fd 3 and sets LISTEN_FDS, as systemd would.
      const [node, ...nodeArgs] = appCommand(example('hello.ts'));
      const script = `exec 3<&0 0</dev/null; LISTEN_FDS=1 LISTEN_PID=$$ exec "$@"`;
      const command = ['/bin/sh', '-c', script, 'sh', node, ...nodeArgs];
      const spawned = track(await startSpawnFcgi({ socketPath: socket, command, env: appEnv() }));
      const nginx = track(await startNginx({ upstream: { path: spawned.socketPath } }));
      await expectCounter(`${nginx.url}/`);
    });
  });
});
