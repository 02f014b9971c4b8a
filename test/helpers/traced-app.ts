// An app under `strace -f` for tests that check system calls (test/server/one-write.test.ts,
// test/server/js-thread-path.test.ts): `node -e APP ARGS...`, which prints "listening <pid>" once it listens.
import { spawn, type ChildProcess } from 'child_process';
import { findBinary } from './binaries';

export interface TracedApp {
  /** The app's process id: its main (JS) thread's id in strace's log. */
  pid: number;
  /** The exit code strace reports for the app (after SIGTERM to `pid`: the log is complete then). */
  exited: Promise<number | null>;
  /** Ends both (a tracee outlives a killed strace: it is detached, not killed). */
  kill(): void;
}

export async function startTracedApp(
  app: string,
  args: string[],
  traceFile: string,
  syscalls: string[],
  stringLimit = 65536,
): Promise<TracedApp> {
  const strace = findBinary('strace') as string;
  const proc: ChildProcess = spawn(
    strace,
    [
      '-f',
      '-qq',
      '-xx',
      '-s',
      String(stringLimit),
      '-e',
      `trace=${syscalls.join(',')}`,
      '-o',
      traceFile,
      process.execPath,
      '-e',
      app,
      ...args,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  let pid: number | undefined;
  const kill = (): void => {
    if (pid !== undefined) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    if (proc.exitCode === null) proc.kill('SIGKILL');
  };
  try {
    pid = await new Promise<number>((resolve, reject) => {
      proc.stdout?.on('data', (chunk: Buffer) => {
        const m = /listening (\d+)/.exec(chunk.toString());
        if (m) resolve(Number(m[1]));
      });
      proc.once('exit', (code) => reject(new Error(`the app exited (${code}) before listening`)));
    });
  } catch (err) {
    kill();
    throw err;
  }
  return { pid, exited, kill };
}
