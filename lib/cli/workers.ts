// Worker processes of `libfcgi serve`: N copies of the app with the listening socket on fd 0, restarted on exit.
import { spawn, type ChildProcess } from 'child_process';
import fs from 'fs';
import path from 'path';
import { UsageError } from './args';
import { isJavaScriptFile, isTypeScriptFile, nodeArgsForModule } from './load-module';
import type { ServeLog } from './log';

/** The program and arguments that run the app. */
export interface WorkerCommand {
  file: string;
  args: string[];
}

/**
 * How to run `app`: JavaScript with this Node, TypeScript with this Node's type stripping or the app's project's
 * tsx (lib/cli/load-module.ts), any other executable file directly (a C program on libfcgi, a script with a #!
 * line), as spawn-fcgi would.
 */
export function workerCommand(app: string, appArgs: string[]): WorkerCommand {
  const file = path.resolve(app);
  let stat: fs.Stats;
  try {
    stat = fs.statSync(file);
  } catch {
    throw new UsageError(`the app ${app} does not exist`);
  }
  if (!stat.isFile()) throw new UsageError(`the app ${app} is not a file`);
  if (isTypeScriptFile(file)) {
    return { file: process.execPath, args: [...nodeArgsForModule(app), file, ...appArgs] };
  }
  if (!isJavaScriptFile(file)) {
    try {
      fs.accessSync(file, fs.constants.X_OK);
      return { file, args: appArgs };
    } catch {
      // not executable: take it for JavaScript without the usual extension
    }
  }
  return { file: process.execPath, args: [file, ...appArgs] };
}

export interface WorkerPoolOptions {
  command: WorkerCommand;
  count: number;
  /** The listening FastCGI socket, given to each worker as fd 0. */
  listenFd: number;
  env: NodeJS.ProcessEnv;
  log: ServeLog;
}

interface Slot {
  index: number;
  child: ChildProcess | undefined;
  startedAt: number;
  /** Exits in a row that came soon after the start: sets the back-off. */
  quickExits: number;
  restartTimer: NodeJS.Timeout | undefined;
  exited: Promise<void>;
}

const FIRST_RESTART_DELAY_MS = 100;
const MAX_RESTART_DELAY_MS = 10_000;
/** A worker that ran this long before exiting restarts at once: it was not crashing in a loop. */
const STABLE_AFTER_MS = 10_000;

/** Describes an exit: "code 1", "signal SIGKILL". */
function exitDescription(code: number | null, signal: NodeJS.Signals | null): string {
  return signal !== null ? `signal ${signal}` : `code ${code}`;
}

/**
 * Keeps `count` workers running. The listening socket is each worker's fd 0, exactly as spawn-fcgi and Apache's
 * mod_fcgid start FastCGI programs, so the app needs no options (`new FastCGI()` listens on fd 0). A worker that
 * exits is restarted after a back-off that doubles (100 ms up to 10 s) while it keeps exiting soon after starting.
 *
 * One caveat of Node's spawn: it makes a child's fds 0-2 blocking, and the listening socket's file status flags
 * are shared by every process that holds it; libfcgi sets O_NONBLOCK again when the new worker starts, and an
 * accept that blocks meanwhile only waits for the next connection.
 */
export class WorkerPool {
  private readonly slots: Slot[] = [];
  private stopping = false;
  private lastExit: string | undefined;

  constructor(private readonly options: WorkerPoolOptions) {}

  start(): void {
    for (let index = 0; index < this.options.count; index++) {
      const slot: Slot = {
        index,
        child: undefined,
        startedAt: 0,
        quickExits: 0,
        restartTimer: undefined,
        exited: Promise.resolve(),
      };
      this.slots.push(slot);
      this.spawn(slot);
    }
  }

  /**
   * Why requests cannot be served now, or undefined: every worker is crash-looping (exited soon after its start at
   * least twice in a row and not yet running stably), so a request would only wait for the client timeout.
   */
  unavailable(): string | undefined {
    const now = Date.now();
    const looping = (slot: Slot) => slot.quickExits >= 2 && (slot.child === undefined || now - slot.startedAt < STABLE_AFTER_MS);
    if (this.stopping || this.slots.length === 0 || !this.slots.every(looping)) return undefined;
    return `every worker keeps exiting soon after it starts (the last: ${this.lastExit ?? 'unknown'})`;
  }

  /** PIDs of the workers running now. */
  pids(): number[] {
    return this.slots.flatMap((slot) => (slot.child?.pid !== undefined ? [slot.child.pid] : []));
  }

  private spawn(slot: Slot): void {
    const { command, listenFd, env, log } = this.options;
    slot.restartTimer = undefined;
    slot.startedAt = Date.now();
    // detached (a process group of its own): Ctrl-C in a terminal reaches only the front end, which then stops
    // the workers with SIGTERM, so requests in flight finish instead of dying with SIGINT.
    const child = spawn(command.file, command.args, { stdio: [listenFd, 'inherit', 'inherit'], env, detached: true });
    slot.child = child;
    slot.exited = new Promise((resolve) => {
      let done = false;
      const onGone = (description: string) => {
        if (done) return;
        done = true;
        if (slot.child === child) slot.child = undefined;
        this.onExit(slot, child.pid, description);
        resolve();
      };
      child.once('exit', (code, signal) => onGone(exitDescription(code, signal)));
      // spawn failures (ENOENT, EACCES) come as 'error' without 'exit'
      child.once('error', (err) => {
        if (child.pid === undefined) onGone(`failed to start: ${err.message}`);
      });
    });
    if (child.pid !== undefined) log.info(`worker ${child.pid} started`);
  }

  private onExit(slot: Slot, pid: number | undefined, description: string): void {
    const { log } = this.options;
    const who = pid === undefined ? `worker ${slot.index + 1}` : `worker ${pid}`;
    if (this.stopping) {
      log.info(`${who} exited (${description})`);
      return;
    }
    const ranMs = Date.now() - slot.startedAt;
    this.lastExit = `${description} after ${(ranMs / 1000).toFixed(1)} s`;
    slot.quickExits = ranMs >= STABLE_AFTER_MS ? 0 : slot.quickExits + 1;
    const delay = slot.quickExits === 0 ? 0 : Math.min(FIRST_RESTART_DELAY_MS * 2 ** (slot.quickExits - 1), MAX_RESTART_DELAY_MS);
    log.error(`${who} exited (${description}) after ${(ranMs / 1000).toFixed(1)} s; restarting in ${delay} ms`);
    slot.restartTimer = setTimeout(() => this.spawn(slot), delay);
  }

  /**
   * SIGTERM to every worker (the accept loop returns false; a request in progress finishes first), SIGKILL to
   * those still running after `timeoutMs`; resolves when all have exited. No restarts from here on.
   */
  async stop(timeoutMs: number): Promise<void> {
    this.stopping = true;
    for (const slot of this.slots) {
      clearTimeout(slot.restartTimer);
      slot.child?.kill('SIGTERM');
    }
    const all = Promise.all(this.slots.map((slot) => slot.exited));
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(true), timeoutMs);
    });
    const late = await Promise.race([all.then(() => false), timedOut]);
    clearTimeout(timer);
    if (late) {
      for (const slot of this.slots) {
        if (slot.child === undefined) continue;
        this.options.log.error(`worker ${slot.child.pid} did not exit within ${timeoutMs} ms of SIGTERM: SIGKILL`);
        slot.child.kill('SIGKILL');
      }
      await all;
    }
  }

  /** Last resort when the front end itself dies: SIGKILL every worker (synchronous, for an 'exit' handler). */
  killNow(): void {
    this.stopping = true;
    for (const slot of this.slots) {
      clearTimeout(slot.restartTimer);
      slot.child?.kill('SIGKILL');
    }
  }
}
