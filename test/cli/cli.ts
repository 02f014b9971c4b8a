// Runs the built `libfcgi` command (dist/cli/main.js) for the CLI tests: one-shot runs, `serve`, the fixture app.
import { spawn } from 'child_process';
import fs from 'fs';
import path from 'path';
import { closeProcessTree, startProcess, type ExitStatus, type ProcessHandle } from '../helpers/process';

export const ROOT = path.join(__dirname, '..', '..');
export const CLI = path.join(ROOT, 'dist', 'cli', 'main.js');
export const FIXTURE_APP = path.join(ROOT, 'test', 'fixtures', 'cli-app.ts');

function assertBuilt(): void {
  if (!fs.existsSync(CLI)) throw new Error(`${CLI} is missing: run "npm run build:ts" first (npm test does)`);
}

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: string;
}

/** Runs `libfcgi ...args` to its end (SIGKILL after `timeoutMs`), with `input` on stdin. */
export function runCli(args: string[], options: { input?: Buffer | string; timeoutMs?: number } = {}): Promise<CliResult> {
  assertBuilt();
  const timeoutMs = options.timeoutMs ?? 20000;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
    const stdout: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout: Buffer.concat(stdout), stderr });
    });
    child.stdin.on('error', () => undefined); // the command may exit before reading its input
    child.stdin.end(options.input);
  });
}

/** Resolves with the first match of `pattern` in the text a stream produces (rejects when `proc` exits first). */
export function waitForOutput(
  proc: ProcessHandle,
  stream: 'stdout' | 'stderr',
  pattern: RegExp,
  timeoutMs = 20000,
): Promise<RegExpMatchArray> {
  const source = proc.child[stream];
  const text = () => (stream === 'stdout' ? proc.stdout() : proc.stderr());
  return new Promise((resolve, reject) => {
    const check = () => {
      const match = pattern.exec(text());
      if (match === null) return false;
      finish();
      resolve(match);
      return true;
    };
    const onExit = (status: ExitStatus) => {
      finish();
      reject(
        new Error(
          `${proc.description} exited (code ${status.code}, signal ${status.signal}) before printing ${pattern}\n` +
            `stdout: ${proc.stdout()}\nstderr: ${proc.stderr()}`,
        ),
      );
    };
    const timer = setTimeout(() => {
      finish();
      reject(
        new Error(
          `${proc.description} did not print ${pattern} within ${timeoutMs} ms\nstdout: ${proc.stdout()}\nstderr: ${proc.stderr()}`,
        ),
      );
    }, timeoutMs);
    // The helper's collector is registered first, so by our 'data' listener the text includes the chunk.
    const onData = () => check();
    function finish() {
      clearTimeout(timer);
      source?.off('data', onData);
    }
    if (check()) return;
    source?.on('data', onData);
    void proc.exited.then(async (status) => {
      // 'exit' can come before the last output: read the stream to its end first.
      if (source && !source.readableEnded) await new Promise((resolve) => source.once('close', resolve));
      if (!check()) onExit(status);
    });
  });
}

export interface ServeHandle {
  readonly process: ProcessHandle;
  /** http://127.0.0.1:PORT */
  readonly url: string;
  /** The FastCGI socket (undefined with --connect). */
  readonly socketPath: string | undefined;
  /** PIDs from the "worker N started" lines so far, in order. */
  startedWorkers(): number[];
  /** SIGTERM (SIGKILL after 10 s) and the exit status; also stops whatever it left running. */
  close(): Promise<ExitStatus>;
}

/** Starts `libfcgi serve ...args` on 127.0.0.1:0 and resolves once it prints where it listens. */
export async function startServe(args: string[], options: { env?: NodeJS.ProcessEnv } = {}): Promise<ServeHandle> {
  assertBuilt();
  const proc = await startProcess(process.execPath, [CLI, 'serve', '--listen', '127.0.0.1:0', ...args], {
    cwd: ROOT,
    env: options.env,
  });
  let closing: Promise<ExitStatus> | undefined;
  const close = () => {
    closing ??= (async () => {
      await closeProcessTree(proc, { timeoutMs: 10000 });
      return proc.exited;
    })();
    return closing;
  };
  try {
    const match = await waitForOutput(proc, 'stdout', /^libfcgi serve: (https?:\/\/\S+) -> .*?(?: on (\S+))?$/m);
    return {
      process: proc,
      url: match[1],
      socketPath: match[2],
      startedWorkers: () => [...proc.stderr().matchAll(/worker (\d+) started/g)].map((m) => Number(m[1])),
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}

export interface FixtureApp {
  readonly process: ProcessHandle;
  readonly socketPath: string;
  close(): Promise<unknown>;
}

/** Runs test/fixtures/cli-app.ts on its own unix socket (FCGI_SOCKET_PATH); resolves when it says it accepts. */
export async function startFixtureApp(socketPath: string): Promise<FixtureApp> {
  const proc = await startProcess(process.execPath, ['--import', 'tsx', FIXTURE_APP], {
    cwd: ROOT,
    env: { ...process.env, FCGI_SOCKET_PATH: socketPath },
  });
  try {
    await waitForOutput(proc, 'stderr', new RegExp(`^cli-app ${proc.pid} accepting$`, 'm'));
  } catch (err) {
    await proc.close({ signal: 'SIGKILL' });
    throw err;
  }
  return { process: proc, socketPath, close: () => proc.close() };
}

/** The fixture app's JSON answer. */
export interface FixtureAnswer {
  pid: number;
  env: Record<string, string>;
  bodyLength: number;
  bodyMd5: string;
}
