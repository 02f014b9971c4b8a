// How many connections wait in a listening socket's backlog (ss's Recv-Q of a LISTEN socket), to know that
// requests are queued without sleeping.
import { execFileSync } from 'child_process';
import type { SocketTarget } from './process';

/** Connections queued (not yet accepted) on the listening socket at `target`; 0 when none is listening. */
export function backlogLength(target: SocketTarget): number {
  const args = 'path' in target ? ['-xlnH', 'src', target.path] : ['-tlnH', `sport = :${target.port}`];
  const out = execFileSync('ss', args, { encoding: 'utf8' });
  const line = out.split('\n').find((l) => /LISTEN/.test(l));
  if (line === undefined) return 0;
  const fields = line.trim().split(/\s+/);
  const at = fields.indexOf('LISTEN');
  return Number(fields[at + 1]);
}

/** Resolves once at least `n` connections wait in the backlog; rejects after `timeoutMs`. */
export async function waitForBacklog(target: SocketTarget, n: number, timeoutMs = 10000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const have = backlogLength(target);
    if (have >= n) return;
    if (Date.now() > deadline) throw new Error(`${have} connections in the backlog after ${timeoutMs} ms, want ${n}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
