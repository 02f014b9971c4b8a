// The slow-request log (options.slowRequestThreshold): one line per request that runs longer than the threshold,
// written while it still runs.
import { Worker } from 'worker_threads';
import { argRangeError, argTypeError } from './errors';

/** @internal checks options.slowRequestThreshold: undefined (off) or an integer of ms >= 1. */
export function checkSlowRequestThreshold(value: unknown): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number') throw argTypeError('options.slowRequestThreshold', 'of type number', value);
  if (!Number.isInteger(value) || value < 1 || value > 2 ** 31 - 1) {
    throw argRangeError('options.slowRequestThreshold', 'an integer >= 1 and <= 2147483647 (ms)', value);
  }
  return value;
}

/** @internal the log line (the same in both servers). */
export function slowLine(method: string | undefined, uri: string | undefined, elapsedMs: number, thresholdMs: number): string {
  return `libfcgi: slow request: ${method ?? '-'} ${uri ?? '-'} running for ${Math.round(elapsedMs)} ms (slowRequestThreshold ${thresholdMs} ms)\n`;
}

// The accept loop's JS thread is blocked while a synchronous handler runs, so no timer of it can fire: a worker
// thread watches instead. The loop publishes each request in shared memory (its method and URI, then an odd
// sequence number; an even one when it ends); the worker waits on the sequence number with Atomics.wait and,
// when one request stays current past the threshold, writes the line to fd 2 itself (fs.writeSync: a worker's
// process.stderr goes through the blocked main thread).
const SEQ = 0;
const LEN = 1;
const TEXT_BYTES = 2048;

const WORKER_SOURCE = `
const { workerData } = require('worker_threads');
const { writeSync } = require('fs');
const state = new Int32Array(workerData.shared, 0, 2);
const text = new Uint8Array(workerData.shared, 8);
const threshold = workerData.threshold;
for (;;) {
  let seq = Atomics.load(state, 0);
  if (seq < 0) break;
  if (seq % 2 === 0) { Atomics.wait(state, 0, seq, 1000); continue; }
  const started = Date.now();
  const len = Atomics.load(state, 1);
  const info = Buffer.from(text.subarray(0, len)).toString('latin1');
  if (Atomics.load(state, 0) !== seq) continue;
  let left = threshold;
  let result = 'ok';
  while (left > 0 && Atomics.load(state, 0) === seq) {
    result = Atomics.wait(state, 0, seq, Math.min(left, 1000));
    left = threshold - (Date.now() - started);
  }
  if (Atomics.load(state, 0) !== seq) continue;
  const [method, uri] = info.split('\\0');
  try {
    writeSync(2, 'libfcgi: slow request: ' + (method || '-') + ' ' + (uri || '-') + ' running for ' + (Date.now() - started) +
      ' ms (slowRequestThreshold ' + threshold + ' ms)\\n');
  } catch {}
  while (Atomics.load(state, 0) === seq) Atomics.wait(state, 0, seq, 1000);
}
`;

/** @internal the accept loop's slow-request watcher: begin() at accept, end() when the request ends. */
export class SlowLogWatcher {
  readonly #shared = new SharedArrayBuffer(8 + TEXT_BYTES);
  readonly #state = new Int32Array(this.#shared, 0, 2);
  readonly #text = Buffer.from(this.#shared, 8, TEXT_BYTES);
  readonly #worker: Worker;
  #seq = 0;

  constructor(thresholdMs: number) {
    this.#worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { shared: this.#shared, threshold: thresholdMs } });
    this.#worker.unref();
  }

  begin(method: string | undefined, uri: string | undefined): void {
    if (this.#seq % 2 === 1) this.end();
    const len = this.#text.write(`${method ?? ''}\0${uri ?? ''}`, 0, TEXT_BYTES, 'latin1');
    Atomics.store(this.#state, LEN, len);
    Atomics.store(this.#state, SEQ, ++this.#seq);
    Atomics.notify(this.#state, SEQ);
  }

  end(): void {
    if (this.#seq % 2 === 0) return;
    Atomics.store(this.#state, SEQ, ++this.#seq);
    Atomics.notify(this.#state, SEQ);
  }

  close(): void {
    Atomics.store(this.#state, SEQ, -1);
    Atomics.notify(this.#state, SEQ);
  }
}
