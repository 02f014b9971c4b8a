// Listen option validation and defaults: one plain object for native, errors that name the bad argument.
import { argRangeError, argTypeError, argValueError } from './errors';
import { systemdListenFd } from './systemd';

/** Listen on a unix socket file. A stale file is replaced; a live socket or a non-socket is refused. */
export interface UnixListenOptions extends TimeoutOptions, LimitOptions {
  /** The socket file's path. */
  path: string;
  /** listen()'s backlog: connections the kernel queues before they are accepted. Default 511. */
  backlog?: number;
  /** Permissions of the socket file, e.g. 0o660 (set before the socket starts listening). */
  mode?: number;
}
/** Listen on TCP (IPv4 or IPv6). */
export interface TcpListenOptions extends TimeoutOptions, LimitOptions {
  /** Default '127.0.0.1'. */
  host?: string;
  /** 0 picks a free port (see address()). */
  port: number;
  /** listen()'s backlog: connections the kernel queues before they are accepted. Default 511. */
  backlog?: number;
}
/** Use an inherited listening socket (spawn-fcgi and mod_fcgid: fd 0; systemd: fd 3). */
export interface FdListenOptions extends TimeoutOptions, LimitOptions {
  /** The descriptor of a socket that is already listening (0 or 3 as above). */
  fd: number;
}
/** Timeouts in milliseconds (0 disables one). */
export interface TimeoutOptions {
  /** A peer silent this long while we read its request is dropped. Default 60000. */
  readTimeout?: number;
  /** A peer that does not take our output for this long is dropped. Default 60000. */
  writeTimeout?: number;
  /** A kept-alive connection without a new request for this long is closed. Default 60000. */
  idleTimeout?: number;
}
/** Bounds on the params (CGI environment) of one request; a request over them is refused. */
export interface LimitOptions {
  /** Longest param name in bytes. Default 65536. */
  maxParamNameLength?: number;
  /** Longest param value in bytes. Default 1 MiB. */
  maxParamValueLength?: number;
  /** All params of a request together, in bytes. Default 4 MiB. */
  maxParamsSize?: number;
  /**
   * Connections held at once between requests (new ones with no bytes yet, kept-alive idle ones, lingering
   * closes). Over it, the connection idle longest is closed to admit the new one. Default: the soft `ulimit -n` less a tenth of it
   * (at least 64) for everything else, at least 16 and at most 32768 (so 922 at 1024, 16 at 64).
   */
  maxConnections?: number;
  /**
   * Bytes the request gate may hold at once, over all connections, for requests it is still reading (each
   * holds at most its params, bounded by `maxParamsSize`, and 64 KiB of body). A read that takes the total over
   * it closes the incomplete requests that began longest ago, the one being read included when it is the oldest,
   * until the total fits (counted in `stats().refusedByLimits`); a request read whole is never closed for it.
   * Default 64 MiB (about 60,000 requests' params of 1 KiB half-sent at once), at least 1 MiB (16 small bodies
   * of 64 KiB). A request whose params and body so far exceed it can never be read: keep it above
   * `maxParamsSize`.
   */
  maxBufferedBytes?: number;
}
/**
 * Use a socket systemd passed (socket activation) by its name: `FileDescriptorName=` in the .socket unit, or the
 * unit's name by default; `systemd-socket-activate --fdname=NAME`. Needed when systemd passes more than one socket.
 */
export interface SystemdListenOptions extends TimeoutOptions, LimitOptions {
  /** The socket's name in `LISTEN_FDNAMES`. */
  fdName: string;
}
/**
 * Where to listen: a unix socket `{ path }`, TCP `{ host, port }`, an inherited socket `{ fd }`, or a socket systemd
 * passed `{ fdName }`; omitted, systemd's socket, else fd 0.
 */
export type ListenOptions = UnixListenOptions | TcpListenOptions | FdListenOptions | SystemdListenOptions;

/** What native receives. */
export interface NativeListenOptions {
  kind: 'unix' | 'tcp' | 'fd';
  path?: string;
  mode?: number;
  host?: string;
  port?: number;
  fd?: number;
  backlog: number;
  readTimeout: number;
  writeTimeout: number;
  idleTimeout: number;
  maxParamNameLength?: number;
  maxParamValueLength?: number;
  maxParamsSize?: number;
  maxConnections?: number;
  maxBufferedBytes?: number;
}

export const DEFAULT_BACKLOG = 511; // Node's net default
export const DEFAULT_TIMEOUT_MS = 60_000;
const MAX_TIMEOUT_MS = 2 ** 31 - 1;
const MAX_PARAMS_BYTES = 2 ** 30;
/** maxBufferedBytes' least value: the small bodies (64 KiB) of 16 requests read at once. */
export const MIN_BUFFERED_BYTES = 2 ** 20;
const UNIX_PATH_MAX = 107; // sun_path is 108 bytes with the terminating NUL

const KNOWN = new Set([
  'path',
  'backlog',
  'mode',
  'host',
  'port',
  'fd',
  'fdName',
  'readTimeout',
  'writeTimeout',
  'idleTimeout',
  'maxParamNameLength',
  'maxParamValueLength',
  'maxParamsSize',
  'maxConnections',
  'maxBufferedBytes',
]);

function checkInt(name: string, v: unknown, min: number, max: number): number {
  if (typeof v !== 'number') throw argTypeError(name, 'of type number', v);
  if (!Number.isInteger(v) || v < min || v > max) throw argRangeError(name, `an integer >= ${min} and <= ${max}`, v);
  return v;
}

/**
 * Validates listen options and applies defaults. `undefined` means the socket systemd passed (LISTEN_FDS and
 * LISTEN_PID, see lib/systemd.ts), else "fd 0", for processes started by spawn-fcgi or mod_fcgid. `extraKeys`
 * are option names the caller handles itself (allowed, ignored here).
 */
export function normalizeListenOptions(options: unknown, extraKeys: readonly string[] = []): NativeListenOptions {
  if (options === undefined) {
    const fd = systemdListenFd(undefined);
    options = { fd: fd ?? 0 };
  }
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw argTypeError('options', 'an object', options);
  }
  const o = options as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    if (!KNOWN.has(key) && !extraKeys.includes(key)) throw argValueError(`options.${key}`, 'is not a known option');
  }
  const ways = ['path', 'port', 'fd', 'fdName'].filter((k) => o[k] !== undefined);
  if (ways.length !== 1) {
    throw argValueError(
      'options',
      `must give exactly one of path, port, fd or fdName (got ${ways.length === 0 ? 'none' : ways.join(', ')})`,
    );
  }
  const timeouts = {
    readTimeout: o.readTimeout === undefined ? DEFAULT_TIMEOUT_MS : checkInt('options.readTimeout', o.readTimeout, 0, MAX_TIMEOUT_MS),
    writeTimeout: o.writeTimeout === undefined ? DEFAULT_TIMEOUT_MS : checkInt('options.writeTimeout', o.writeTimeout, 0, MAX_TIMEOUT_MS),
    idleTimeout: o.idleTimeout === undefined ? DEFAULT_TIMEOUT_MS : checkInt('options.idleTimeout', o.idleTimeout, 0, MAX_TIMEOUT_MS),
    maxParamNameLength:
      o.maxParamNameLength === undefined ? undefined : checkInt('options.maxParamNameLength', o.maxParamNameLength, 1, MAX_PARAMS_BYTES),
    maxParamValueLength:
      o.maxParamValueLength === undefined ? undefined : checkInt('options.maxParamValueLength', o.maxParamValueLength, 1, MAX_PARAMS_BYTES),
    maxParamsSize: o.maxParamsSize === undefined ? undefined : checkInt('options.maxParamsSize', o.maxParamsSize, 1, MAX_PARAMS_BYTES),
    maxConnections: o.maxConnections === undefined ? undefined : checkInt('options.maxConnections', o.maxConnections, 1, 2 ** 31 - 1),
    maxBufferedBytes:
      o.maxBufferedBytes === undefined
        ? undefined
        : checkInt('options.maxBufferedBytes', o.maxBufferedBytes, MIN_BUFFERED_BYTES, Number.MAX_SAFE_INTEGER),
  };
  const backlog = o.backlog === undefined ? DEFAULT_BACKLOG : checkInt('options.backlog', o.backlog, 1, 2 ** 31 - 1);

  if (o.path !== undefined) {
    if (typeof o.path !== 'string') throw argTypeError('options.path', 'of type string', o.path);
    if (o.path.length === 0 || o.path.includes('\0')) throw argValueError('options.path', 'must be a non-empty path without NUL bytes');
    const bytes = Buffer.byteLength(o.path);
    if (bytes > UNIX_PATH_MAX)
      throw argRangeError('options.path', `at most ${UNIX_PATH_MAX} bytes long (a unix socket limit)`, `${bytes} bytes`);
    if (o.host !== undefined) throw argValueError('options.host', 'cannot be combined with options.path');
    if (o.mode !== undefined && typeof o.mode !== 'number') throw argTypeError('options.mode', 'of type number', o.mode);
    if (o.mode !== undefined && (!Number.isInteger(o.mode) || o.mode < 0 || o.mode > 0o777)) {
      throw argRangeError('options.mode', 'permission bits from 0o000 to 0o777', o.mode);
    }
    const mode = o.mode;
    return { kind: 'unix', path: o.path, mode, backlog, ...timeouts };
  }
  if (o.mode !== undefined) throw argValueError('options.mode', 'applies only to a unix socket (options.path)');
  if (o.port !== undefined) {
    const port = checkInt('options.port', o.port, 0, 65535);
    const host = o.host === undefined ? '127.0.0.1' : o.host;
    if (typeof host !== 'string') throw argTypeError('options.host', 'of type string', host);
    if (host.length === 0) throw argValueError('options.host', 'must not be empty');
    return { kind: 'tcp', host, port, backlog, ...timeouts };
  }
  if (o.host !== undefined) throw argValueError('options.host', 'needs options.port');
  const inherited = o.fdName !== undefined ? 'options.fdName' : 'options.fd';
  if (o.backlog !== undefined) throw argValueError('options.backlog', `does not apply to an inherited socket (${inherited})`);
  if (o.fdName !== undefined) {
    if (typeof o.fdName !== 'string') throw argTypeError('options.fdName', 'of type string', o.fdName);
    if (o.fdName.length === 0 || o.fdName.includes(':')) throw argValueError('options.fdName', 'must be a non-empty name without ":"');
    return { kind: 'fd', fd: systemdListenFd(o.fdName), backlog, ...timeouts };
  }
  const fd = checkInt('options.fd', o.fd, 0, 2 ** 31 - 1);
  return { kind: 'fd', fd, backlog, ...timeouts };
}
