// Runs a TypeScript FastCGI app of this package (examples/*.ts, test/fixtures/*.ts) as a child process under tsx.
import fs from 'fs';
import os from 'os';
import path from 'path';
import { retryOnAddressInUse } from './ports';
import {
  socketInode,
  startProcess,
  waitForListeningPort,
  waitForSocketFile,
  type ExitStatus,
  type ProcessHandle,
  type SocketTarget,
} from './process';

export const REPO_ROOT = path.resolve(__dirname, '..', '..');

/** An example app's file: `examples/<name>`. */
export const example = (name: string): string => path.join(REPO_ROOT, 'examples', name);

/** examples/<name> with each [from, to] replaced everywhere; fails when `from` is not in the file. */
export function exampleWith(name: string, replacements: Array<[string, string]>): string {
  let text = fs.readFileSync(example(name), 'utf8');
  for (const [from, to] of replacements) {
    if (!text.includes(from)) throw new Error(`examples/${name} no longer contains ${JSON.stringify(from)}`);
    text = text.split(from).join(to);
  }
  return text;
}
/** A test fixture app's file: `test/fixtures/<name>`. */
export const fixture = (name: string): string => path.join(REPO_ROOT, 'test', 'fixtures', name);

/** tsx's loader by absolute path: `--import tsx` alone resolves from the cwd, which spawn-fcgi or mod_fcgid choose. */
const TSX_LOADER = require.resolve('tsx');

/** The command line that runs a TypeScript app: node --import <tsx> <script>. */
export function appCommand(script: string): string[] {
  return [process.execPath, '--import', TSX_LOADER, script];
}

/** The environment for an app: ours without any FCGI_ or LISTEN_ variables that would change where it listens. */
export function appEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (!/^(FCGI_|LISTEN_)/.test(name)) env[name] = value;
  }
  return { ...env, ...extra };
}

/** A POSIX sh single-quoted word. */
const shQuote = (word: string): string => `'${word.replace(/'/g, `'\\''`)}'`;

/**
 * Writes an executable `#!/bin/sh` script, `dir`/`name`, that runs `script` from the package directory with the
 * descriptors it inherited: the command for mod_fcgid (FcgidWrapper) and lighttpd's bin-path, which hand the app its
 * listening socket as fd 0. World-readable, so a server running as another user can run it.
 */
/**
 * A web server started as root runs the wrapper as its own user (www-data), which must be able to reach the
 * repository. A clone under a private temp dir (mktemp -d: mode 0700) is opened up to others' search (o+x on
 * the dirs above it inside the temp dir); anywhere else a dir that others cannot search is a clear error,
 * not a 500 from the web server.
 */
function ensureRepoReachableByOthers(): void {
  if (process.getuid?.() !== 0) return;
  const tmp = fs.realpathSync(os.tmpdir());
  for (let dir = REPO_ROOT; ; dir = path.dirname(dir)) {
    const mode = fs.statSync(dir).mode & 0o7777;
    if ((mode & 0o001) === 0) {
      if (dir.startsWith(`${tmp}${path.sep}`)) fs.chmodSync(dir, mode | 0o001);
      else {
        throw new Error(
          `the web server runs the app as another user, who cannot reach ${REPO_ROOT}: ${dir} is mode ` +
            `0${mode.toString(8)} (no search for others). Clone the repository where others can traverse.`,
        );
      }
    }
    if (path.dirname(dir) === dir) break;
  }
}

export function writeAppWrapper(dir: string, script: string, name = 'app.sh'): string {
  ensureRepoReachableByOthers();
  const wrapper = path.join(dir, name);
  const [node, , loader] = appCommand(script);
  const relative = path.relative(REPO_ROOT, script);
  const body = `cd ${shQuote(REPO_ROOT)} && exec ${shQuote(node)} --import ${shQuote(loader)} ${shQuote(relative)}`;
  fs.writeFileSync(wrapper, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
  return wrapper;
}

export interface AppProcess {
  readonly process: ProcessHandle;
  readonly pid: number;
  /** Where it listens (what a web server's upstream points at). */
  readonly address: SocketTarget;
  /** SIGTERM (SIGKILL after 5 s); resolves with the exit status. Idempotent. */
  close(): Promise<ExitStatus>;
}

export interface StartAppOptions {
  /** A unix socket path (FCGI_SOCKET_PATH) or TCP on loopback (FCGI_PORT; a free port is picked). */
  listen: { path: string } | { tcp: true };
  /** More environment variables for the app. */
  env?: NodeJS.ProcessEnv;
  /** How long the app may take to listen; default 15000 ms (tsx compiles on first start). */
  timeoutMs?: number;
}

/**
 * Starts `script` with FCGI_SOCKET_PATH or FCGI_PORT set (the listen options examples/hello.ts reads) and waits
 * until it listens: the socket file exists, or the process itself holds the TCP port. Nothing connects to it.
 */
export async function startApp(script: string, options: StartAppOptions): Promise<AppProcess> {
  const timeoutMs = options.timeoutMs ?? 15000;
  const start = async (env: NodeJS.ProcessEnv, address: SocketTarget, ready: (proc: ProcessHandle) => Promise<void>) => {
    const [node, ...args] = appCommand(script);
    const proc = await startProcess(node, args, { cwd: REPO_ROOT, env: appEnv({ ...options.env, ...env }) });
    try {
      await ready(proc);
    } catch (err) {
      await proc.close({ signal: 'SIGKILL' });
      throw err;
    }
    return { process: proc, pid: proc.pid, address, close: () => proc.close() };
  };
  const listen = options.listen;
  if ('path' in listen) {
    const previousIno = socketInode(listen.path);
    return start({ FCGI_SOCKET_PATH: listen.path }, { path: listen.path }, (proc) =>
      waitForSocketFile(listen.path, timeoutMs, { process: proc, previousIno }),
    );
  }
  return retryOnAddressInUse((port) =>
    // When the port was taken meanwhile, the app exits with EADDRINUSE, which the error quotes from its stderr.
    start({ FCGI_PORT: String(port), FCGI_HOST: '127.0.0.1' }, { host: '127.0.0.1', port }, (proc) =>
      waitForListeningPort(proc, port, timeoutMs),
    ),
  );
}

/**
 * Resolves when `proc` has printed `text` on stdout (already, or later: it listens to the stream's data events).
 * Rejects when the process ends first or after `timeoutMs`. Call it while the process runs.
 */
export function waitForOutput(proc: ProcessHandle, text: string, timeoutMs = 15000): Promise<void> {
  return new Promise((resolve, reject) => {
    const stdout = proc.child.stdout;
    let timer: NodeJS.Timeout | undefined;
    const finish = (err?: Error) => {
      clearTimeout(timer);
      stdout?.off('data', check);
      proc.child.off('close', onExit);
      if (err) reject(err);
      else resolve();
    };
    // Our listener runs after the collector's, so stdout() already holds the new chunk.
    const check = () => {
      if (proc.stdout().includes(text)) finish();
    };
    const fail = (why: string) => finish(new Error(`${proc.description} ${why}\nstdout: ${proc.stdout()}\nstderr: ${proc.stderr()}`));
    const onExit = () => fail(`exited before printing ${JSON.stringify(text)}`);
    timer = setTimeout(() => fail(`did not print ${JSON.stringify(text)} within ${timeoutMs} ms`), timeoutMs);
    stdout?.on('data', check);
    // 'close', not 'exit': output written just before exiting has then been read too.
    proc.child.once('close', onExit);
    check();
  });
}
