// The Express deployment examples work as written (but for paths and ports): examples/spawn-fcgi-express.sh behind
// nginx and examples/apache-express.conf (mod_fcgid), both serving the unmodified examples/express-listen.js
// through `libfcgi run`.
import { execFile } from 'child_process';
import fs from 'fs';
import path from 'path';
import { httpdConfForSite } from '../helpers/apache';
import { appEnv, example, exampleWith, REPO_ROOT, writeAppWrapper } from '../helpers/app-process';
import { describeWithBinaries, findBinary } from '../helpers/binaries';
import { closeAfterEach } from '../helpers/cleanup';
import { httpRequest } from '../helpers/http';
import { startNginx } from '../helpers/nginx';
import { retryOnAddressInUse } from '../helpers/ports';
import { startProcess, waitForSocketFile } from '../helpers/process';
import { tempDir } from '../helpers/tmp';
import { inDir, launch, quote, shareWithServerUser } from '../helpers/web-server';

const GREETING = 'Hello from Express over FastCGI, 127.0.0.1\n';

describeWithBinaries(['nginx', 'spawn-fcgi'])('examples/spawn-fcgi-express.sh', () => {
  const track = closeAfterEach();

  test('serves examples/express-listen.js on $SOCKET behind nginx; SIGTERM ends it', async () => {
    const dir = track(tempDir()).path;
    const socket = path.join(dir, 'express.sock');
    const proc = track(await startProcess(example('spawn-fcgi-express.sh'), [], { env: appEnv({ SOCKET: socket }) }));
    await waitForSocketFile(socket, 15000, { process: proc });
    shareWithServerUser(socket);
    const nginx = track(await startNginx({ upstream: { path: socket } }));
    const r = await httpRequest(`${nginx.url}/`);
    expect({ status: r.status, text: r.text }).toEqual({ status: 200, text: GREETING });
  });
});

describeWithBinaries(['apache2'])('examples/apache-express.conf (mod_fcgid)', () => {
  const track = closeAfterEach();
  const apache2 = findBinary('apache2') as string;
  const EXAMPLE_WRAPPER = '/usr/local/bin/libfcgi-express';

  function writeConfig(dir: string, port: number, wrapper: string): string {
    fs.writeFileSync(
      inDir(dir, 'site.conf'),
      exampleWith('apache-express.conf', [
        ['<VirtualHost *:80>', `<VirtualHost *:${port}>`],
        [EXAMPLE_WRAPPER, wrapper],
      ]),
    );
    const configFile = inDir(dir, 'httpd.conf');
    fs.writeFileSync(
      configFile,
      httpdConfForSite(
        dir,
        port,
        ['mpm_event', 'authz_core', 'fcgid'],
        [`FcgidIPCDir ${quote(inDir(dir, 'fcgid'))}`, `FcgidProcessTableFile ${quote(inDir(dir, 'fcgid_shm'))}`],
      ),
    );
    return configFile;
  }

  /** The wrapper the comment in apache-express.conf shows, with this checkout's paths. */
  function writeWrapper(dir: string): string {
    const wrapper = writeAppWrapper(dir, example('express-listen.js'), 'libfcgi-express'); // makes the repo reachable
    const cli = path.join(REPO_ROOT, 'dist', 'cli', 'main.js');
    fs.writeFileSync(wrapper, `#!/bin/sh\ncd '${REPO_ROOT}' && exec '${process.execPath}' '${cli}' run examples/express-listen.js\n`, {
      mode: 0o755,
    });
    shareWithServerUser(wrapper);
    return wrapper;
  }

  test('passes apache2 -t and serves the Express app that calls app.listen(3000)', async () => {
    const dir = track(tempDir()).path;
    shareWithServerUser(dir);
    const wrapper = writeWrapper(dir);
    const syntax = await new Promise<string>((resolve) =>
      execFile(apache2, ['-t', '-f', writeConfig(dir, 8080, wrapper)], (_err, stdout, stderr) => resolve(stdout + stderr)),
    );
    expect(syntax).toContain('Syntax OK');
    const server = track(
      await retryOnAddressInUse(async (port) => {
        const configFile = writeConfig(dir, port, wrapper);
        const s = await launch({
          dir,
          command: apache2,
          args: ['-f', configFile, '-DFOREGROUND'],
          configFile,
          configText: fs.readFileSync(configFile, 'utf8'),
          ready: { tcpPort: port },
          errorLogFile: inDir(dir, 'error.log'),
          env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LANG: 'C' },
        });
        return { ...s, url: `http://127.0.0.1:${port}` };
      }),
    );
    const r = await httpRequest(`${server.url}/`);
    expect({ status: r.status, text: r.text }).toEqual({ status: 200, text: GREETING });
  });
});
