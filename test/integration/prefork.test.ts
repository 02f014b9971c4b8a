// spawn-fcgi -F 4: four sync-loop processes accept on one inherited socket (fd 0) behind real nginx. Each takes
// requests (the spread is printed), and SIGTERM to all of them drains them with no failed request.
import fs from 'fs';
import path from 'path';
import { appCommand, appEnv, fixture } from '../helpers/app-process';
import { describeWithBinaries, run } from '../helpers/binaries';
import { closeAfterEach } from '../helpers/cleanup';
import { httpRequest } from '../helpers/http';
import { startNginx } from '../helpers/nginx';
import { signalPid, waitForPidsGone } from '../helpers/process';
import { startSpawnFcgi } from '../helpers/spawn-fcgi';
import { tempDir } from '../helpers/tmp';

const APP = fixture('interop-app.ts');
const PROCESSES = 4;

/** Polls `check` every 20 ms until it holds (a state to reach, not a delay); fails after `timeoutMs`. */
async function until(what: string, check: () => boolean, timeoutMs = 20000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Connections waiting in the listen backlog of the unix socket at `socketPath` (Recv-Q of `ss -xl`). */
function backlogLength(socketPath: string): number {
  for (const line of run('ss', ['-xlnH']).split('\n')) {
    const fields = line.trim().split(/\s+/);
    if (fields[4] === socketPath) return Number(fields[2]);
  }
  return 0;
}

describeWithBinaries(['nginx', 'spawn-fcgi', 'ss'])('spawn-fcgi -F 4: four sync-loop processes on one socket behind nginx', () => {
  const track = closeAfterEach();

  async function start(delayMs: number) {
    const dir = track(tempDir()).path;
    const readyDir = path.join(dir, 'ready');
    fs.mkdirSync(readyDir);
    const spawned = track(
      await startSpawnFcgi({
        socketPath: path.join(dir, 'app.sock'),
        command: appCommand(APP),
        env: appEnv({ INTEROP_DELAY_MS: String(delayMs), INTEROP_READY_DIR: readyDir }),
        children: PROCESSES,
      }),
    );
    // Every child is in its accept loop (each writes its PID file just before its first accept()).
    await until('all four processes accept', () => fs.readdirSync(readyDir).length === PROCESSES);
    expect(fs.readdirSync(readyDir).map(Number).sort()).toEqual([...spawned.pids].sort());
    const nginx = track(await startNginx({ upstream: { path: spawned.socketPath } }));
    return { spawned, nginx };
  }

  test('each of the four processes answers some of 40 concurrent requests (each takes 100 ms)', async () => {
    const { spawned, nginx } = await start(100);
    const answers = await Promise.all(Array.from({ length: 40 }, () => httpRequest(`${nginx.url}/pid`, { timeoutMs: 30000 })));
    expect(answers.map((a) => a.status)).toEqual(Array(40).fill(200));
    const spread = new Map<number, number>(spawned.pids.map((pid) => [pid, 0]));
    for (const a of answers) spread.set(Number(a.text), (spread.get(Number(a.text)) ?? 0) + 1);
    console.log(`spawn-fcgi -F ${PROCESSES}, 40 requests: ${[...spread].map(([pid, n]) => `PID ${pid}: ${n}`).join(', ')}`);
    expect([...spread.keys()].sort()).toEqual([...spawned.pids].sort()); // no answer from another process
    for (const [pid, n] of spread) expect({ pid, answered: n > 0 }).toEqual({ pid, answered: true });
  });

  // The connections still queued in the listen backlog when the processes leave their loops are accepted and
  // served, not reset (issue 16, graceful shutdown).
  test('SIGTERM to all four while 4 requests run and 20 wait in the backlog: all 24 answered 200, all processes exit', async () => {
    const { spawned, nginx } = await start(500);
    const socketPath = spawned.socketPath;
    const requests = Array.from({ length: 24 }, () => httpRequest(`${nginx.url}/pid`, { timeoutMs: 60000 }).catch((err: Error) => err));
    // 4 requests are being served (one per process) and the other 20 wait, connected, in the backlog.
    await until('20 connections wait in the backlog', () => backlogLength(socketPath) >= 20);
    for (const pid of spawned.pids) signalPid(pid, 'SIGTERM');
    const answers = await Promise.all(requests);
    const outcome = answers.map((a) => (a instanceof Error ? a.message : a.status));
    // nginx's reasons for any failure (e.g. "recv() failed (104: Connection reset by peer)") go with the outcome.
    const failures = [...new Set(nginx.errorLog().match(/(recv|connect|readv|writev)\(\) failed \([^)]*\)/g) ?? [])];
    expect({ outcome, failures }).toEqual({ outcome: Array(24).fill(200), failures: [] });
    await waitForPidsGone(spawned.pids, 15000);
  });

  // The socket is shared: one process that ends (SIGTERM, lastCall()) must not shut it down for the others, as
  // it may do with a socket it created itself. A shut-down unix listener refuses every new connect.
  test('SIGTERM to one of the four: it exits, and the other three go on answering on the shared socket', async () => {
    const { spawned, nginx } = await start(0);
    const [victim, ...others] = spawned.pids;
    signalPid(victim, 'SIGTERM');
    await waitForPidsGone([victim], 15000);
    const answers = await Promise.all(
      Array.from({ length: 20 }, () => httpRequest(`${nginx.url}/pid`, { timeoutMs: 30000 }).catch((err: Error) => err)),
    );
    const outcome = answers.map((a) => (a instanceof Error ? a.message : a.status));
    expect(outcome).toEqual(Array(20).fill(200));
    for (const a of answers) expect(others).toContain(Number((a as { text: string }).text));
  });
});
