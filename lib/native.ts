// The only file that loads the compiled addon; it declares exactly what the binary exports.
import path from 'path';
import type { NativeListenOptions } from './listen';

/** Address of a listening socket, as native reports it. */
export type NativeAddress =
  | { family: 'unix'; path: string }
  | { family: 'IPv4' | 'IPv6'; address: string; port: number };

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
  flush(): boolean;
  finish(): void;
  setExitStatus(status: number): void;
  close(): void;
  address(): NativeAddress | null;
  /** Makes the next accept() return false (as SIGTERM does). */
  requestShutdown(): void;
}

export interface NativeBinding {
  AcceptLoop: new (options: NativeListenOptions) => NativeAcceptLoop;
  fcgi2Version: string;
}

function load(): NativeBinding {
  const root = path.join(__dirname, '..');
  // node-gyp-build looks in prebuilds/ and build/{Release,Debug}; LIBFCGI_NATIVE points at another build
  // (the ASan or cmake-js one).
  const explicit = process.env.LIBFCGI_NATIVE;
  if (explicit) return require(path.resolve(explicit)) as NativeBinding;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const nodeGypBuild = require('node-gyp-build') as (dir: string) => unknown;
    return nodeGypBuild(root) as NativeBinding;
  } catch (err) {
    const e = err as Error;
    e.message =
      `libfcgi: could not load the native addon (searched ${root}/prebuilds and ${root}/build/{Release,Debug}). ` +
      `Build it with "npm run build:native" (needs python3, make, g++). Cause: ${e.message}`;
    throw e;
  }
}

export const native: NativeBinding = load();
