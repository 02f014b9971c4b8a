// Out of descriptors (native/reactor.cc, Listener::AcceptOne; SECURITY.md "Defaults"): the app runs under
// `ulimit -n 64` and more silent clients connect than it has descriptors. Fresh requests keep being answered at
// once in both servers (the connection idle longest is closed to admit them), the process does not spin, and
// accept() failing with EMFILE is logged once.
import fs from 'fs';
import net from 'net';
import path from 'path';
import { appCommand, appEnv, fixture, REPO_ROOT } from '../helpers/app-process';
import { Kept } from '../helpers/kept-conn';
import { startProcess, waitForSocketFile, type ProcessHandle } from '../helpers/process';
import { makeTempDir } from '../helpers/tmp';

jest.setTimeout(120000);

const SILENT = 80; // more than the 64 descriptors
const FRESH = 10;

/** CPU time (user + system) of a process so far, in seconds (/proc/<pid>/stat utime and stime, in clock ticks). */
function cpuSeconds(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // fields 14 and 15 of proc(5), counted from field 3
}

describe.each(['loop', 'server'] as const)('under ulimit -n 64 (%s)', (mode) => {
  let app: ProcessHandle | undefined;
  const silent: net.Socket[] = [];
  const conns: Kept[] = [];
  afterEach(async () => {
    for (const s of silent.splice(0)) s.destroy();
    for (const c of conns.splice(0)) c.socket.destroy();
    await app?.close();
    app = undefined;
  });

  test.each([
    ['maxConnections by default (sized to the limit)', undefined],
    ['maxConnections 1000 (accept() hits EMFILE)', 1000],
  ])(`${SILENT} silent clients held: fresh requests answered at once, no CPU spin; %s`, async (_name, maxConnections) => {
    const sock = path.join(makeTempDir(), 'app.sock');
    const [node, ...args] = appCommand(fixture('limits-app.ts'));
    app = await startProcess('bash', ['-c', 'ulimit -n 64 && exec "$@"', 'bash', node, ...args], {
      cwd: REPO_ROOT,
      env: appEnv({ FCGI_SOCKET_PATH: sock, MODE: mode, ...(maxConnections ? { MAX_CONNECTIONS: String(maxConnections) } : {}) }),
    });
    await waitForSocketFile(sock, 20000, { process: app });
    // Warm up (tsx has compiled; the first request's lazy loading done), then measure from here.
    const warm = new Kept(sock);
    conns.push(warm);
    await warm.connected();
    await warm.request(false);

    const cpuBefore = cpuSeconds(app.pid);
    const started = Date.now();
    await Promise.all(
      Array.from({ length: SILENT }, () => {
        const s = net.connect(sock);
        silent.push(s);
        s.on('error', () => undefined);
        return new Promise<void>((resolve) => s.once('connect', () => resolve()));
      }),
    );
    let last = '';
    const took: number[] = [];
    for (let i = 0; i < FRESH; i++) {
      const c = new Kept(sock);
      conns.push(c);
      const t0 = Date.now();
      await c.connected();
      last = await c.request(false);
      took.push(Date.now() - t0);
    }
    // Still holding the silent ones: a second of nothing to do must cost next to no CPU.
    await new Promise((r) => setTimeout(r, 1000));
    const window = (Date.now() - started) / 1000;
    const cpu = cpuSeconds(app.pid) - cpuBefore;
    expect(cpu).toBeLessThan(Math.max(0.5, window * 0.3)); // a spinning loop would use the whole window
    // Each fresh request answered at once (not after a silent one's first-byte timeout).
    expect(Math.max(...took)).toBeLessThan(500);
    const stats = JSON.parse(last) as { refusedByLimits: number };
    expect(stats.refusedByLimits).toBeGreaterThan(0);
    const logged = app
      .stderr()
      .split('\n')
      .filter((l) => l.includes('out of file descriptors'));
    if (maxConnections === undefined) {
      expect(logged).toEqual([]); // the default leaves room: the limit evicts before accept() fails
    } else {
      expect(logged).toHaveLength(1);
      expect(logged[0]).toMatch(/EMFILE.*RLIMIT_NOFILE 64/);
    }
    console.log(
      `${mode} maxConnections=${maxConnections ?? 'default'}: took ms ${took.join(',')}; cpu ${cpu.toFixed(2)} s over ${window.toFixed(1)} s`,
    );
  });
});
