// Error codes (a typed union) and helpers that create and recognise them across realms (jest, vm, workers).

/** Codes for errors this package raises itself; system errors keep Node's codes (EADDRINUSE, ...). */
export type LibfcgiErrorCode =
  | 'FCGI_NO_REQUEST' // a request member was used with no current request
  | 'FCGI_HEADERS_SENT' // header()/status() after the header block (or raw output) went out
  | 'FCGI_CLOSED' // the accept loop or server was closed
  | 'FCGI_BODY_TOO_LARGE' // a body helper's size limit was exceeded
  | 'FCGI_ABORTED' // the web server aborted the request or the connection dropped
  | 'FCGI_PROTOCOL_ERROR'
  | 'FCGI_PARAMS_ERROR'
  | 'FCGI_LISTEN_FDS' // systemd's LISTEN_FDS/LISTEN_PID/LISTEN_FDNAMES are for another process or name no such socket
  | 'ERR_INVALID_ARG_TYPE'
  | 'ERR_INVALID_ARG_VALUE'
  | 'ERR_OUT_OF_RANGE'
  | 'ERR_INVALID_HEADER';

/** The errors this package throws or rejects with: an Error with Node-style `code` (and, for system errors, `errno`, `syscall`). */
export interface LibfcgiError extends Error {
  /** A {@link LibfcgiErrorCode}, or a system error's code (EADDRINUSE, EACCES, ...). */
  code: LibfcgiErrorCode | string;
  /** The system error number (negative, as libuv gives it), for system errors. */
  errno?: number;
  /** The system call that failed (bind, listen, ...), for system errors. */
  syscall?: string;
  /** The socket path or address involved, where there is one. */
  address?: string;
}

/** True when `err` is an Error-like object with this `code` (works across realms, unlike instanceof). */
export function isErrorWithCode(err: unknown, code?: string): err is LibfcgiError {
  if (typeof err !== 'object' || err === null) return false;
  const c = (err as { code?: unknown }).code;
  return typeof c === 'string' && (code === undefined || c === code);
}

export function fcgiError(code: LibfcgiErrorCode, message: string): LibfcgiError {
  const err = new Error(message) as LibfcgiError;
  err.code = code;
  return err;
}

export function argTypeError(name: string, expected: string, actual: unknown): TypeError & { code: string } {
  const err = new TypeError(`The "${name}" argument must be ${expected}. Received ${describe(actual)}`) as TypeError & {
    code: string;
  };
  err.code = 'ERR_INVALID_ARG_TYPE';
  return err;
}

export function argRangeError(name: string, expected: string, actual: unknown): RangeError & { code: string } {
  const err = new RangeError(`The value of "${name}" is out of range. It must be ${expected}. Received ${describe(actual)}`) as RangeError & {
    code: string;
  };
  err.code = 'ERR_OUT_OF_RANGE';
  return err;
}

export function argValueError(name: string, reason: string): TypeError & { code: string } {
  const err = new TypeError(`The argument "${name}" ${reason}`) as TypeError & { code: string };
  err.code = 'ERR_INVALID_ARG_VALUE';
  return err;
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}...` : v);
  if (typeof v === 'object') return `an instance of ${(v as object).constructor?.name ?? 'Object'}`;
  return `${typeof v} (${String(v)})`;
}
