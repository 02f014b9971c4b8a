// The accept loop's native I/O with the operator's view added: counters for fcgi.stats(), the slow-request log's
// begin and end of each request. Request (lib/request.ts) talks to this as to the addon itself.
import type { NativeAcceptLoop, NativeAddress, NativeStats } from './native';
import { findParam } from './env';
import { SlowLogWatcher } from './slow-log';
import { Counters } from './stats';

/** @internal */
export class OperatorLoop implements NativeAcceptLoop {
  readonly counters = new Counters();
  readonly #io: NativeAcceptLoop;
  readonly #slow: SlowLogWatcher | undefined;
  #inRequest = false;
  #params: string | undefined;

  constructor(io: NativeAcceptLoop, slowRequestThreshold: number | undefined) {
    this.#io = io;
    this.#slow = slowRequestThreshold === undefined ? undefined : new SlowLogWatcher(slowRequestThreshold);
  }

  /** The native object itself (for await hands it to a concurrent server). */
  get raw(): NativeAcceptLoop {
    return this.#io;
  }

  /** Call while the native request is still current (aborted() needs it). */
  #ended(): void {
    if (!this.#inRequest) return;
    this.#inRequest = false;
    this.counters.completed++;
    if (this.#io.aborted()) this.counters.aborted++;
    this.#slow?.end();
  }

  accept(): boolean {
    this.#ended();
    this.#params = undefined;
    if (!this.#io.accept()) return false;
    this.#inRequest = true;
    this.counters.accepted++;
    if (this.#slow !== undefined) {
      const params = this.params();
      this.#slow.begin(findParam(params, 'REQUEST_METHOD'), findParam(params, 'REQUEST_URI'));
    }
    return true;
  }
  params(): string {
    return (this.#params ??= this.#io.params());
  }
  role(): 'RESPONDER' | 'AUTHORIZER' | 'FILTER' | 'UNKNOWN' {
    return this.#io.role();
  }
  write(data: string | Uint8Array): boolean {
    this.counters.bytesOut += typeof data === 'string' ? data.length : data.byteLength;
    return this.#io.write(data);
  }
  writeError(data: string | Uint8Array): boolean {
    return this.#io.writeError(data);
  }
  read(max?: number): Buffer {
    const b = max === undefined ? this.#io.read() : this.#io.read(max);
    this.counters.bytesIn += b.length;
    return b;
  }
  readData(max?: number): Buffer {
    const b = max === undefined ? this.#io.readData() : this.#io.readData(max);
    this.counters.bytesIn += b.length;
    return b;
  }
  flush(): boolean {
    return this.#io.flush();
  }
  finish(): void {
    this.#ended();
    this.#io.finish();
  }
  setExitStatus(status: number): void {
    this.#io.setExitStatus(status);
  }
  close(): void {
    this.#ended();
    this.#slow?.close();
    this.#io.close();
  }
  address(): NativeAddress | null {
    return this.#io.address();
  }
  aborted(): boolean {
    return this.#io.aborted();
  }
  fd(): number {
    return this.#io.fd();
  }
  requestShutdown(): void {
    this.#io.requestShutdown();
  }
  stats(): NativeStats {
    return this.#io.stats();
  }
}
