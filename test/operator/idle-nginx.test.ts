// 5,000 kept-alive connections held idle directly on the app's socket (another process, as a pool of web
// servers would) while nginx sends fresh traffic with its own kept connections: every request through nginx
// succeeds (no 502) and none of the held connections is closed, because maxConnections by default is sized to
// the fd limit (native/reactor.cc DefaultMaxConnections), not a fixed 4,096.
import fs from 'fs';
import http from 'http';
import path from 'path';
import { createServer, type Server } from '../../lib';
import { appCommand, appEnv, fixture, REPO_ROOT } from '../helpers/app-process';
import { describeWithBinaries } from '../helpers/binaries';
import { closeAfterEach } from '../helpers/cleanup';
import { httpRequest } from '../helpers/http';
import { startNginx } from '../helpers/nginx';
import { startProcess, type ProcessHandle } from '../helpers/process';
import { makeTempDir } from '../helpers/tmp';

jest.setTimeout(180000);

const HELD = 5000;
const REQUESTS = 400;
const PARALLEL = 8;

/** Resolves with the first line of the process's stdout starting with `prefix` (after `from` characters). */
async function lineFrom(proc: ProcessHandle, prefix: string, from: number, timeoutMs: number): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const line = proc
      .stdout()
      .slice(from)
      .split('\n')
      .find((l) => l.startsWith(prefix));
    if (line !== undefined) return line;
    if (proc.exitStatus() !== undefined) throw new Error(`the holder exited: ${proc.stderr()}`);
    if (Date.now() > deadline) throw new Error(`no "${prefix}" line from the holder within ${timeoutMs} ms: ${proc.stderr()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describeWithBinaries(['nginx'])('5,000 idle connections held, traffic through nginx', () => {
  const track = closeAfterEach();
  let server: Server | undefined;
  let holder: ProcessHandle | undefined;
  afterEach(async () => {
    holder?.child.stdin?.end();
    await holder?.close();
    holder = undefined;
    await server?.close();
    server = undefined;
  });

  test(`${HELD} kept connections idle on the socket: ${REQUESTS} requests through nginx all answered, none of the held closed`, async () => {
    const dir = makeTempDir();
    fs.chmodSync(dir, 0o755); // nginx's worker (another user when not root) reaches the socket
    const sock = path.join(dir, 'app.sock');
    server = createServer((req) => void req.header({ 'Content-Type': 'text/plain' }).print('fresh'), { handleSignals: false });
    await server.listen({ path: sock, mode: 0o666 });

    const [node, ...args] = appCommand(fixture('idle-holder.ts'));
    // Node raises its soft fd limit to the hard one by itself; the ulimit is for a hard limit set lower.
    holder = await startProcess('bash', ['-c', 'ulimit -n 12000 2>/dev/null; exec "$@"', 'bash', node, ...args], {
      cwd: REPO_ROOT,
      env: appEnv({ HOLD_SOCKET: sock, HOLD_COUNT: String(HELD) }),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    expect(await lineFrom(holder, 'held ', 0, 120000)).toBe(`held ${HELD}`);

    const nginx = track(await startNginx({ upstream: { path: sock }, keepConn: true, keepalive: 16 }));
    const agent = new http.Agent({ keepAlive: true, maxSockets: PARALLEL });
    const statuses: number[] = [];
    try {
      let next = 0;
      await Promise.all(
        Array.from({ length: PARALLEL }, async () => {
          while (next < REQUESTS) {
            next++;
            const res = await httpRequest(`${nginx.url}/fresh`, { agent });
            statuses.push(res.status);
            if (res.status === 200) expect(res.text).toBe('fresh');
          }
        }),
      );
    } finally {
      agent.destroy();
    }
    expect(statuses.filter((s) => s !== 200)).toEqual([]);
    expect(statuses).toHaveLength(REQUESTS);
    const mark = holder.stdout().length;
    holder.child.stdin?.write('report\n');
    expect(await lineFrom(holder, 'open ', mark, 10000)).toBe(`open ${HELD}`);
    expect(server.stats().refusedByLimits).toBe(0);
    expect(server.stats().connectionsIdle).toBeGreaterThanOrEqual(HELD);
  });
});
