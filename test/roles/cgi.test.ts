// Plain CGI fallback: the same script answers as a CGI script (one request from the environment and stdin, output to
// stdout) and as a FastCGI app; FastCGI.isFastCGI() tells which. Run directly, and by real Apache: mod_cgid (CGI)
// and mod_fcgid (FastCGI) on the same wrapper file.
import { spawn } from 'child_process';
import fs from 'fs';
import os from 'os';
import path from 'path';
import { startApache } from '../helpers/apache';
import { appCommand, appEnv, fixture, REPO_ROOT, writeAppWrapper } from '../helpers/app-process';
import { describeWithBinaries } from '../helpers/binaries';
import { closeAfterEach } from '../helpers/cleanup';
import { httpRequest } from '../helpers/http';
import { tempDir } from '../helpers/tmp';
import { shareWithServerUser } from '../helpers/web-server';

/**
 * Runs `script` with `env`, stdin from a file holding `stdin` (or /dev/null); resolves with its exit code and output.
 * (Node's 'pipe' stdio would be a socketpair: a socket, if not a listening one.)
 */
function run(script: string, env: NodeJS.ProcessEnv, stdin?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const [node, ...args] = appCommand(script);
  let input: number | 'ignore' = 'ignore';
  if (stdin !== undefined) {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'fcgi-cgi-')), 'stdin');
    fs.writeFileSync(file, stdin);
    input = fs.openSync(file, 'r');
  }
  return new Promise((resolve, reject) => {
    const child = spawn(node, args, { cwd: REPO_ROOT, env: appEnv(env), stdio: [input, 'pipe', 'pipe'] });
    if (typeof input === 'number') fs.closeSync(input);
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${script} did not exit within 20 s; stdout ${stdout}; stderr ${stderr}`));
    }, 20000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

const CGI_ENV = { GATEWAY_INTERFACE: 'CGI/1.1', REQUEST_METHOD: 'POST', QUERY_STRING: 'x=1', CONTENT_LENGTH: '5' };

describe.each(['cgi-sync.ts', 'cgi-server.ts'])('plain CGI, run directly (%s)', (script) => {
  test('one request from the environment and stdin, head and body on stdout, error() on stderr; then it exits', async () => {
    const r = await run(fixture(script), CGI_ENV, 'hello and more than CONTENT_LENGTH');
    expect(r.code).toBe(0);
    const [head, body] = r.stdout.split('\r\n\r\n');
    expect(head.split('\r\n')).toEqual(['Content-Type: application/json', 'X-Mode: cgi', 'Set-Cookie: a=1', 'Set-Cookie: b=2']);
    expect(JSON.parse(body)).toEqual({ method: 'POST', query: 'x=1', body: 'hello' });
    expect(r.stderr).toContain('libfcgi cgi request');
    if (script === 'cgi-server.ts') expect(r.stderr).toContain('server closed');
  });

  test('neither FastCGI nor CGI (no GATEWAY_INTERFACE, fd 0 not a socket): the clear ENOTSOCK error', async () => {
    const r = await run(fixture(script), {});
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/ENOTSOCK|not a socket/);
    expect(r.stdout).toBe('');
  });
});

describe('FastCGI.isFastCGI()', () => {
  test('false for a process whose fd 0 is not a listening socket, true when systemd passed it sockets (LISTEN_PID is its own)', async () => {
    expect(JSON.parse((await run(fixture('is-fastcgi.ts'), CGI_ENV)).stdout)).toEqual({ isFastCGI: false });
    // sh execs node: the same process, so LISTEN_PID=$$ names it, as systemd does.
    const [node, ...args] = appCommand(fixture('is-fastcgi.ts'));
    const command = `LISTEN_PID=$$ LISTEN_FDS=1 exec ${[node, ...args].map((a) => `'${a}'`).join(' ')}`;
    const viaSystemd = await new Promise<string>((resolve) => {
      const child = spawn('/bin/sh', ['-c', command], { cwd: REPO_ROOT, env: appEnv(), stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      child.stdout?.on('data', (c: Buffer) => (out += c.toString()));
      child.on('close', () => resolve(out));
    });
    expect(JSON.parse(viaSystemd)).toEqual({ isFastCGI: true });
  });
});

describeWithBinaries(['apache2'])('the same script under Apache mod_cgid (CGI) and mod_fcgid (FastCGI)', () => {
  const track = closeAfterEach();

  test.each(['cgi-sync.ts', 'cgi-server.ts'])('%s answers the same, and says which mode it ran in', async (script) => {
    const dir = track(tempDir()).path;
    const cgiDir = path.join(dir, 'cgi-bin');
    fs.mkdirSync(cgiDir);
    const wrapper = writeAppWrapper(cgiDir, fixture(script), 'app.sh');
    shareWithServerUser(cgiDir);
    const cgid = [
      'LoadModule cgid_module "/usr/lib/apache2/modules/mod_cgid.so"',
      'LoadModule alias_module "/usr/lib/apache2/modules/mod_alias.so"',
      `ScriptSock "${path.join(dir, 'cgid.sock')}"`,
      `ScriptAlias "/cgi/" "${cgiDir}/"`,
      '<Location "/cgi/">',
      '  SetHandler cgi-script',
      '</Location>',
    ].join('\n');
    const apache = track(await startApache({ mode: 'fcgid', command: wrapper, maxProcesses: 1, extraConf: cgid }));
    const ask = (url: string) => httpRequest(url, { method: 'POST', body: 'hello', headers: { 'Content-Type': 'text/plain' } });
    const asCgi = await ask(`${apache.url}/cgi/app.sh?x=1`);
    const asFcgi = await ask(`${apache.url}/app?x=1`);
    for (const r of [asCgi, asFcgi]) {
      expect({ status: r.status, body: JSON.parse(r.text) as unknown, cookies: r.headers['set-cookie'] }).toEqual({
        status: 200,
        body: { method: 'POST', query: 'x=1', body: 'hello' },
        cookies: ['a=1', 'b=2'],
      });
    }
    expect([asCgi.headers['x-mode'], asFcgi.headers['x-mode']]).toEqual(['cgi', 'fastcgi']);
    // A second FastCGI request goes to the same process; each CGI request is a new process that exits.
    expect((await ask(`${apache.url}/cgi/app.sh?x=1`)).headers['x-mode']).toBe('cgi');
  });
});
