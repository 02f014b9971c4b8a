// `mode` is applied to a unix socket file before listen(): between listen() and a later chmod, anyone the umask's
// permissions let in could connect. No connection attempt can show that window reliably (it lasts microseconds),
// so this test reads the order of the system calls themselves: the app runs under strace, which records bind(),
// chmod and listen() as the kernel sees them.
import fs from 'fs';
import path from 'path';
import { appCommand, appEnv, fixture, REPO_ROOT } from '../helpers/app-process';
import { describeWithBinaries, findBinary } from '../helpers/binaries';
import { startProcess, waitForSocketFile } from '../helpers/process';
import { makeTempDir } from '../helpers/tmp';

jest.setTimeout(60000);

describeWithBinaries(['strace'])('mode on a unix socket', () => {
  test.each([
    ['FastCGI (accept loop)', 'operator-app.ts'],
    ['createServer', 'server-mode-app.ts'],
  ])('%s: chmod happens after bind() and before listen() on that socket', async (_name, script) => {
    const dir = makeTempDir();
    const sock = path.join(dir, 'app.sock');
    const trace = path.join(dir, 'strace.txt');
    const strace = findBinary('strace') as string;
    const proc = await startProcess(strace, ['-f', '-o', trace, '-e', 'trace=bind,listen,chmod,fchmodat', ...appCommand(fixture(script))], {
      cwd: REPO_ROOT,
      env: appEnv({ FCGI_SOCKET_PATH: sock, SOCKET_MODE: '660' }),
    });
    try {
      await waitForSocketFile(sock, 30000, { process: proc });
      expect(fs.statSync(sock).mode & 0o777).toBe(0o660);
    } finally {
      // Stopping strace only detaches it: the traced app (and any process it forked) would live on and keep
      // jest's pipes open. End them by the pids strace recorded, then strace ends with them.
      const pids = new Set(
        fs.existsSync(trace)
          ? fs
              .readFileSync(trace, 'utf8')
              .split('\n')
              .map((l) => Number(/^(\d+) /.exec(l)?.[1]))
              .filter((n) => Number.isInteger(n) && n > 0)
          : [],
      );
      for (const pid of pids) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      await proc.close();
    }
    // strace -f lines: "PID syscall(args) = result".
    const lines = fs.readFileSync(trace, 'utf8').split('\n');
    const quoted = JSON.stringify(sock);
    const bindAt = lines.findIndex((l) => /\bbind\(/.test(l) && l.includes(`sun_path=${quoted}`) && / = 0$/.test(l));
    expect(bindAt).toBeGreaterThanOrEqual(0);
    const fd = /\bbind\((\d+),/.exec(lines[bindAt])?.[1];
    const pid = lines[bindAt].split(/\s+/)[0];
    const chmodAt = lines.findIndex((l) => /\b(?:f?chmod|fchmodat)\(/.test(l) && l.includes(`${quoted}, 0660`) && / = 0$/.test(l));
    const listenAt = lines.findIndex((l, i) => i > bindAt && l.startsWith(`${pid} `) && l.includes(`listen(${fd},`));
    expect({ bindAt: bindAt >= 0, chmodAt: chmodAt >= 0, listenAt: listenAt >= 0 }).toEqual({
      bindAt: true,
      chmodAt: true,
      listenAt: true,
    });
    expect(chmodAt).toBeGreaterThan(bindAt);
    expect(chmodAt).toBeLessThan(listenAt);
  });
});
