// Every error code the package raises (server, accept loop and client: one union) and the helpers that create
// and recognise them across realms (jest, vm, workers).

/**
 * Every `code` the FastCGI client puts on errors it creates. System errors (ECONNREFUSED, ENOENT, ...) pass
 * through with Node's own `code`; misuse is a plain TypeError/RangeError naming the argument.
 */
export type ClientErrorCode =
  /** The connection closed (either side, or a socket error) before the request's END_REQUEST. */
  | 'FCGI_CONNECTION_CLOSED'
  /** A previous request was sent without keepConn, so the application closes this connection after it. */
  | 'FCGI_CONNECTION_NOT_KEPT'
  /** Nothing moved on the connection for `timeout` ms while something waited for the application. */
  | 'FCGI_TIMEOUT'
  /** The application sent bytes that are not valid FastCGI (bad header, a record it may not send, bad body). */
  | 'FCGI_PROTOCOL_ERROR'
  /** A name-value pair stream is truncated or inconsistent. */
  | 'FCGI_PARAMS_ERROR'
  /** The application answered a management record with FCGI_UNKNOWN_TYPE. */
  | 'FCGI_UNKNOWN_TYPE'
  /** The request id asked for is still active on this connection. */
  | 'FCGI_REQUEST_ID_IN_USE'
  /** Reading the request body (or FILTER data) source failed; the request was aborted. */
  | 'FCGI_BODY_ERROR'
  /** END_REQUEST carried a protocolStatus other than REQUEST_COMPLETE, so there is no CGI response. */
  | 'FCGI_CANT_MPX_CONN'
  | 'FCGI_OVERLOADED'
  | 'FCGI_UNKNOWN_ROLE'
  | 'FCGI_REQUEST_REJECTED'
  /** The application's stdout is not a CGI response (no blank line after the header, bad Status, ...). */
  | 'FCGI_CGI_RESPONSE_ERROR';

/** Codes for errors this package raises itself; system errors keep Node's codes (EADDRINUSE, ...). */
export type LibfcgiErrorCode =
  | 'FCGI_NO_REQUEST' // a request member was used with no current request
  | 'FCGI_HEADERS_SENT' // header()/status() after the header block (or raw output) went out
  | 'FCGI_CLOSED' // the accept loop or server was closed
  | 'FCGI_BODY_TOO_LARGE' // a body helper's size limit was exceeded
  | 'FCGI_INVALID_JSON' // json() on a body that is not JSON (empty, malformed): the server answers 400
  | 'FCGI_REQUEST_FINISHED' // warning code: output on a request that was already finished (ignored)
  | 'FCGI_LARGE_HEAD' // warning code: a response head over 8 KiB
  | 'FCGI_ABORTED' // the web server aborted the request or the connection dropped
  | 'FCGI_LISTEN_FDS' // systemd's LISTEN_FDS/LISTEN_PID/LISTEN_FDNAMES are for another process or name no such socket
  | ClientErrorCode // the FastCGI client's (libfcgi/client)
  | 'ERR_INVALID_ARG_TYPE'
  | 'ERR_INVALID_ARG_VALUE'
  | 'ERR_OUT_OF_RANGE'
  | 'ERR_INVALID_HEADER';

/** The errors this package throws or rejects with: an Error with Node-style `code` (and, for system errors, `errno`, `syscall`). */
export interface LibfcgiError extends Error {
  /** A {@link LibfcgiErrorCode}, or a system error's code (EADDRINUSE, EACCES, ...). */
  // eslint-disable-next-line @typescript-eslint/no-redundant-type-constituents -- the union lists the package's own codes for readers and editors
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

/** The errors the client creates: an Error with a {@link ClientErrorCode} `code`. */
export interface ClientError extends Error {
  /** What went wrong, as a code to check (not the message). */
  code: ClientErrorCode;
}

/** An Error with a client `code`; tests and callers check `code`, not `instanceof` (jest realms differ). */
export function clientError(code: ClientErrorCode, message: string, cause?: unknown): ClientError {
  const err = (cause === undefined ? new Error(message) : new Error(message, { cause })) as ClientError;
  err.code = code;
  return err;
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
  const err = new RangeError(
    `The value of "${name}" is out of range. It must be ${expected}. Received ${describe(actual)}`,
  ) as RangeError & {
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

/**
 * Output on a finished request (a forgotten timer, a missing await): ignored, with one warning per request
 * naming its URI, instead of an exception thrown from a timer that would end the process and every other
 * request in flight.
 */
export function warnFinished(method: string, uri: string | undefined): void {
  emitWarningNow(
    `libfcgi: ${method}() on a finished request (${uri ?? 'URI unknown'}) was ignored: its response was already sent. ` +
      'Look for a timer or a promise the handler did not await. (Warned once per request.)',
    'FCGI_REQUEST_FINISHED',
  );
}

/**
 * process.emitWarning, delivered now: emitWarning waits for process.nextTick, which an accept loop that never
 * returns to the event loop would not reach. The 'warning' event reaches Node's printer (absent with
 * --no-warnings) and the app's listeners as from emitWarning.
 */
export function emitWarningNow(message: string, code: LibfcgiErrorCode): void {
  const warning = new Error(message) as LibfcgiError;
  warning.name = 'Warning';
  warning.code = code;
  process.emit('warning', warning);
}

/** What to do when no listen options were given and fd 0 is not a listening socket (accept loop and server alike). */
export function explainNoListenSocket(err: unknown, api: string): void {
  if (!isErrorWithCode(err) || !(err.code === 'ENOTSOCK' || err.code === 'EINVAL' || err.code === 'EBADF')) return;
  err.message =
    `${api}: no listen options were given and fd 0 is not a listening socket (${err.message}). ` +
    'Start the app under a FastCGI process manager (spawn-fcgi, mod_fcgid, or `libfcgi serve` for development), ' +
    'or pass { path } or { port }.';
}

/** A body helper's size limit was exceeded: answered 413 by the server. */
export function bodyTooLargeError(limit: number): LibfcgiError & { status: number } {
  const err = fcgiError('FCGI_BODY_TOO_LARGE', `request body over the limit of ${limit} bytes`) as LibfcgiError & { status: number };
  err.status = 413;
  return err;
}

/** json() on a body that does not parse (empty or malformed): answered 400 by the server. */
export function invalidJsonError(cause: unknown): LibfcgiError & { status: number } {
  const reason = cause instanceof Error ? cause.message : String(cause);
  const err = fcgiError('FCGI_INVALID_JSON', `the request body is not valid JSON: ${reason}`) as LibfcgiError & { status: number };
  err.status = 400;
  (err as Error & { cause?: unknown }).cause = cause;
  return err;
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}...` : v);
  if (typeof v === 'object') return `an instance of ${v.constructor?.name ?? 'Object'}`;
  // eslint-disable-next-line @typescript-eslint/no-base-to-string -- objects returned above: a primitive or a function remains
  return `${typeof v} (${String(v)})`;
}
