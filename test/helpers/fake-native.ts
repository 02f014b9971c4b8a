// A fake native side for the concurrent server (the test seam of issue 14): records every command the Server
// and its ServerRequests send, and lets a test fire the events the addon's threads would.
import {
  MAX_SLOTS,
  ServerEventKind,
  type NativeAddress,
  type NativeOutput,
  type NativeServerIo,
  type NativeStats,
  type ServerEvent,
  type ServerEventHandler,
} from '../../lib/native';
import { Server, type Handler, type ServerOptions } from '../../lib/server';
import { kNativeFactory } from '../../lib/symbols';

/** One command the JS side sent to the native side. */
export type NativeCommand =
  | { op: 'write'; request: number; data: NativeOutput; notify: boolean }
  | { op: 'writeError'; request: number; data: string | Uint8Array }
  | { op: 'flush'; request: number }
  | { op: 'read'; request: number; max: number; filterData: boolean }
  | { op: 'end'; request: number; data: NativeOutput | undefined; exitStatus: number; cut: boolean }
  | { op: 'watchPeer'; request: number }
  | { op: 'start' | 'stopAccepting' | 'interrupt' | 'join' | 'ref' | 'unref' };

/** Slot + MAX_SLOTS × generation, as the Server addresses a request's commands. */
export const requestId = (slot: number, generation: number): number => slot + MAX_SLOTS * generation;

/** Output as text, whatever shape the Server handed it over in (string, bytes, or a list of pieces). */
export function outputText(data: NativeOutput | undefined): string {
  if (data === undefined) return '';
  if (Array.isArray(data)) return data.map((piece) => outputText(piece)).join('');
  return typeof data === 'string' ? data : Buffer.from(data).toString('latin1');
}

export class FakeNative implements NativeServerIo {
  readonly commands: NativeCommand[] = [];
  concurrency = 0;
  #onEvent: ServerEventHandler | undefined;

  /** Wires itself in as the Server's native side (through the internal, symbol-keyed option). */
  server(handler: Handler, options: ServerOptions = {}): Server {
    const factory = (_source: unknown, concurrency: number, onEvent: ServerEventHandler): NativeServerIo => {
      this.concurrency = concurrency;
      this.#onEvent = onEvent;
      return this;
    };
    return new Server(handler, { handleSignals: false, ...options, [kNativeFactory]: factory } as ServerOptions);
  }

  #fire(...event: ServerEvent): void {
    if (this.#onEvent === undefined) throw new Error('FakeNative: the server is not listening');
    this.#onEvent(...event);
  }
  /** A request arrives on `slot` (the handler runs now, synchronously, as from the addon's callback). */
  request(
    slot: number,
    gen: number,
    params: Record<string, string>,
    options: { role?: string; body?: Buffer; wholeBody?: boolean } = {},
  ): void {
    const joined = Object.entries(params)
      .map(([k, v]) => `${k}=${v}`)
      .join('\0');
    this.#fire(
      ServerEventKind.Request,
      slot,
      gen,
      joined,
      options.role ?? 'RESPONDER',
      options.body,
      options.body === undefined ? undefined : options.wholeBody === true,
    );
  }
  data(slot: number, gen: number, chunk: Buffer, eof: boolean, filterData = false): void {
    this.#fire(ServerEventKind.Data, slot, gen, chunk, eof, undefined, filterData ? true : undefined);
  }
  written(slot: number, gen: number, total: number): void {
    this.#fire(ServerEventKind.Written, slot, gen, total, undefined, undefined, undefined);
  }
  aborted(slot: number, gen: number): void {
    this.#fire(ServerEventKind.Aborted, slot, gen, undefined, undefined, undefined, undefined);
  }
  workerExit(): void {
    this.#fire(ServerEventKind.WorkerExit, 0, 0, undefined, undefined, undefined, undefined);
  }

  /** The commands for one request, without the server-wide ones. */
  commandsFor(request: number): NativeCommand[] {
    return this.commands.filter((c) => 'request' in c && c.request === request);
  }

  start(): void {
    this.commands.push({ op: 'start' });
  }
  write(request: number, data: NativeOutput, notify: boolean): void {
    this.commands.push({ op: 'write', request, data, notify });
  }
  writeError(request: number, data: string | Uint8Array): void {
    this.commands.push({ op: 'writeError', request, data });
  }
  flush(request: number): void {
    this.commands.push({ op: 'flush', request });
  }
  read(request: number, max: number, filterData = false): void {
    this.commands.push({ op: 'read', request, max, filterData });
  }
  end(request: number, data: NativeOutput | undefined, exitStatus: number, cut: boolean): void {
    this.commands.push({ op: 'end', request, data, exitStatus, cut });
  }
  watchPeer(request: number): void {
    this.commands.push({ op: 'watchPeer', request });
  }
  stopAccepting(): void {
    this.commands.push({ op: 'stopAccepting' });
  }
  interrupt(): void {
    this.commands.push({ op: 'interrupt' });
  }
  join(): void {
    this.commands.push({ op: 'join' });
  }
  ref(): void {
    this.commands.push({ op: 'ref' });
  }
  unref(): void {
    this.commands.push({ op: 'unref' });
  }
  stats(): NativeStats {
    return { idle: 0, queued: 0, refusedByLimits: 0 };
  }
  address(): NativeAddress | null {
    return { family: 'unix', path: '/fake.sock' };
  }
}
