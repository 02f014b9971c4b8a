// Error codes of the FastCGI client and the one constructor that gives errors their `code`.

/**
 * Every `code` the client puts on errors it creates. System errors (ECONNREFUSED, ENOENT, ...) pass through with
 * Node's own `code`; misuse is a plain TypeError/RangeError naming the argument.
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

/** The errors the client creates: an Error with a {@link ClientErrorCode} `code`. */
export interface ClientError extends Error {
  /** What went wrong, as a code to check (not the message). */
  code: ClientErrorCode;
}

/** An Error with a `code`; tests and callers check `code`, not `instanceof` (jest realms differ). */
export function clientError(code: ClientErrorCode, message: string, cause?: unknown): ClientError {
  const err = (cause === undefined ? new Error(message) : new Error(message, { cause })) as ClientError;
  err.code = code;
  return err;
}
