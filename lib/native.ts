// The only file that loads the compiled addon; it declares exactly what the binary exports.
import path from 'path';
import type { NativeListenOptions } from './listen';

/** Address of a listening socket, as native reports it. */
export type NativeAddress =
  | {
      /** A unix socket. */
      family: 'unix';
      /** The socket file's path. */
      path: string;
    }
  | {
      /** A TCP socket. */
      family: 'IPv4' | 'IPv6';
      /** The IP address, e.g. '127.0.0.1' or '::1'. */
      address: string;
      /** The port (the real one when 0 was asked for). */
      port: number;
    };

/** Connection counts from the native side, for stats(). */
export interface NativeStats {
  /** Connections watched between requests (new ones without bytes yet, kept-alive idle ones). */
  idle: number;
  /** Readable connections waiting for a free worker (always 0 in the accept loop). */
  queued: number;
  /** Connections closed or refused by maxConnections, for want of descriptors, or over maxBufferedBytes. */
  refusedByLimits: number;
  /** Connections the request gate closed for a protocol error (absent: no gate). */
  refusedByGate?: number;
  /** Bytes the request gate holds for requests it is still reading (absent: no gate). */
  gateBufferedBytes?: number;
}

/** The synchronous accept loop over one FCGX_Request (native/accept_loop.cc). */
export interface NativeAcceptLoop {
  /** Finishes the current request, waits for the next; false once shut down (SIGTERM, close()). */
  accept(): boolean;
  /** Params joined as "NAME=VALUE\0NAME=VALUE" (latin1: one char per byte). */
  params(): string;
  role(): 'RESPONDER' | 'AUTHORIZER' | 'FILTER' | 'UNKNOWN';
  /** FCGI_STDOUT; false when the peer is gone. */
  write(data: string | Uint8Array): boolean;
  /** FCGI_STDERR; false when the peer is gone. */
  writeError(data: string | Uint8Array): boolean;
  /** Up to max bytes of FCGI_STDIN (all that is left when max is omitted); empty at the end. */
  read(max?: number): Buffer;
  /** FILTER: up to max bytes of FCGI_DATA (the rest of FCGI_STDIN is skipped first); empty for other roles. */
  readData(max?: number): Buffer;
  flush(): boolean;
  finish(): void;
  setExitStatus(status: number): void;
  close(): void;
  address(): NativeAddress | null;
  /** True when the web server aborted the request (FCGI_ABORT_REQUEST) or reading/writing it failed. */
  aborted(): boolean;
  /** The listening socket's file descriptor (-1 once closed). */
  fd(): number;
  /** Makes the next accept() return false (as SIGTERM does). */
  requestShutdown(): void;
  /** Connection counts for stats(). */
  stats(): NativeStats;
}

/**
 * The numbers of the concurrent server's event kinds (native/server_io.h ServerEvent::Kind), as the addon
 * exports them in `constants.events`. The literal types let TS narrow a ServerEvent by its kind;
 * test/unit/native-boundary.test.ts checks that the addon's numbers are these.
 */
export interface ServerEventKinds {
  readonly Request: 0;
  readonly Data: 1;
  readonly Written: 2;
  readonly Aborted: 3;
  readonly WorkerExit: 4;
}

/** What the addon exports for TS to read instead of copying. */
export interface NativeConstants {
  /** Slots per server (the concurrency limit); a request id is slot + maxSlots × generation. */
  readonly maxSlots: number;
  readonly events: ServerEventKinds;
  /**
   * The params whose place in the joined params comes with each request (native/request.h IndexParams), in the
   * order of the index: a request's `param()` slices these instead of searching.
   */
  readonly indexedParams?: readonly string[];
}

type K = ServerEventKinds;
/**
 * One event from the concurrent server's native threads, as the positional arguments of the onEvent callback
 * (kind, slot, generation, then what the kind carries; unused positions are undefined). A tuple union, so
 * that a handler destructuring `...[kind, slot, gen, a, b, c, d]: ServerEvent` narrows the rest by `kind`.
 */
export type ServerEvent =
  /** A request was read: its params (joined like params()), its role, and a small declared body read with it. */
  | [
      kind: K['Request'],
      slot: number,
      generation: number,
      params: string,
      role: string,
      body: Buffer | undefined,
      bodyComplete: boolean | undefined,
      /** Where the indexed params sit in `params` (IndexParams; absent when params are 64 KiB or more). */
      index?: string,
    ]
  /** Bytes of the body (or of FCGI_DATA with filterData), and whether they are its end. */
  | [
      kind: K['Data'],
      slot: number,
      generation: number,
      bytes: Buffer,
      eof: boolean,
      unused: undefined,
      filterData: true | undefined,
      unused4?: undefined,
    ]
  /** Output asked with notify is out: bytes written so far for the request. */
  | [
      kind: K['Written'],
      slot: number,
      generation: number,
      written: number,
      unused1: undefined,
      unused2: undefined,
      unused3: undefined,
      unused4?: undefined,
    ]
  /** The peer is gone, FCGI_ABORT_REQUEST came, or reading/writing the request failed. */
  | [
      kind: K['Aborted'],
      slot: number,
      generation: number,
      unused0: undefined,
      unused1: undefined,
      unused2: undefined,
      unused3: undefined,
      unused4?: undefined,
    ]
  /** A worker thread left (after stopAccepting() or interrupt()). */
  | [
      kind: K['WorkerExit'],
      slot: number,
      generation: number,
      unused0: undefined,
      unused1: undefined,
      unused2: undefined,
      unused3: undefined,
      unused4?: undefined,
    ];

/** The onEvent callback the concurrent server's native side calls on the JS thread. */
export type ServerEventHandler = (...event: ServerEvent) => void;

/** Output for the worker: buffers of 16 KiB and more are written from JS memory (kept referenced until written). */
export type NativeOutput = string | Uint8Array | (string | Uint8Array)[];

/**
 * The concurrent server's native side (native/server_io.h): worker threads doing all socket I/O. `request` in
 * the commands is slot + maxSlots × generation: a command for a request that already ended is dropped.
 */
export interface NativeServerIo {
  /**
   * Starts the worker threads; with watchdogMs >= 0 also the shutdown watchdog: that long after the first
   * SIGTERM, a server that has not finished closing removes its socket file and ends the process (SIGTERM).
   */
  start(watchdogMs?: number): void;
  /** Queue output for the slot's request; notify: report Written once it is out. */
  write(request: number, data: NativeOutput, notify: boolean): void;
  writeError(request: number, data: string | Uint8Array): void;
  flush(request: number): void;
  /** Ask for up to max body bytes (FILTER: of FCGI_DATA with filterData); they arrive as a Data event. */
  read(request: number, max: number, filterData?: boolean): void;
  /** Last output, then END_REQUEST; the worker goes back to accepting. */
  end(request: number, data: NativeOutput | undefined, exitStatus: number, cut: boolean): void;
  /** The handler went asynchronous: report a hang-up of the web server (Aborted) while it waits. */
  watchPeer(request: number): void;
  /** Stop accepting: idle workers exit now, busy ones after their request (each reports WorkerExit). */
  stopAccepting(): void;
  /** Cut every request in flight (close timeout). */
  interrupt(): void;
  /** After every worker reported WorkerExit: join the threads, release the thread-safe function. */
  join(): void;
  ref(): void;
  unref(): void;
  address(): NativeAddress | null;
  /** Connection counts for stats(). */
  stats(): NativeStats;
}

/** What the loaded addon was built from (native/build_info.cc); a prebuild and a source build say the same. */
export interface BuildInfo {
  /** The fcgi2 (libfcgi) version compiled in: the vendored one, or the system library's (pkg-config). */
  fcgi2Version: string;
  /** True when built with `--use_system_libfcgi=true` (no ext/patches). */
  systemLibfcgi: boolean;
  /** The ext/patches applied to the vendored fcgi2, by file name without `.patch` (empty for the system library). */
  patches: string[];
  /** What the fcgi2 headers offered the addon: `param-limits`, `read-ahead`, `buf-sizes`, `put-str-close`, `close-write`, `preread`, `spares`, `params-block`. */
  features: string[];
  /** The build switches: builder (node-gyp or cmake-js), use_system_libfcgi, sanitize. */
  flags: string;
  /** The Node-API version the addon was built for. */
  napiVersion: number;
  /** The C++ compiler's version string, where it defines one. */
  compiler?: string;
}

export interface NativeBinding {
  AcceptLoop: new (options: NativeListenOptions) => NativeAcceptLoop;
  ServerIo: new (source: NativeListenOptions | NativeAcceptLoop, concurrency: number, onEvent: ServerEventHandler) => NativeServerIo;
  constants: NativeConstants;
  fcgi2Version: string;
  /** True when fd is a listening socket (SO_ACCEPTCONN). */
  isListeningSocket(fd: number): boolean;
  buildInfo: BuildInfo;
}

function load(): NativeBinding {
  const root = path.join(__dirname, '..');
  // node-gyp-build looks in prebuilds/ and build/{Release,Debug}; LIBFCGI_NATIVE points at another build
  // (the ASan or cmake-js one).
  const explicit = process.env.LIBFCGI_NATIVE;
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- a .node addon at a run-time path: only require() loads it
  if (explicit) return require(path.resolve(explicit)) as NativeBinding;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- node-gyp-build ships no types; require() plus a cast types it here
    const nodeGypBuild = require('node-gyp-build') as (dir: string) => unknown;
    return nodeGypBuild(root) as NativeBinding;
  } catch (err) {
    const e = err as Error;
    e.message =
      `libfcgi: could not load the native addon (searched ${root}/prebuilds and ${root}/build/{Release,Debug}). ` +
      `No prebuilt addon fits this platform (${process.platform}-${process.arch}) and none was compiled: ` +
      `run "npm rebuild libfcgi" in your project to compile it (needs python3, make and a C++ compiler). ` +
      `Cause: ${e.message}`;
    throw e;
  }
}

export const native: NativeBinding = load();

/** The concurrent server's event kinds, as the addon numbers them. */
export const ServerEventKind: ServerEventKinds = native.constants.events;
/** Slots per concurrent server (its concurrency limit), as the addon sizes them. */
export const MAX_SLOTS: number = native.constants.maxSlots;
/**
 * Name -> its position in a request's param index (see NativeConstants.indexedParams). The keys are the
 * internalized copies of the addon's strings (a property key is), as the names in `param('...')` calls are:
 * a lookup then matches by identity instead of comparing the characters.
 */
export const INDEXED_PARAMS: ReadonlyMap<string, number> = new Map(
  (native.constants.indexedParams ?? []).map((name, k) => [Object.keys({ [name]: k })[0] ?? name, k]),
);
