// Errors in words a person can act on: "ENOENT (no such file)" rather than a stack trace.

const SYSTEM_ERRORS: Record<string, string> = {
  ENOENT: 'no such file',
  ECONNREFUSED: 'connection refused: nothing accepts connections there',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EADDRINUSE: 'address already in use',
  EADDRNOTAVAIL: 'address not available on this host',
  EAGAIN: "the application's listen queue is full",
  ECONNRESET: 'connection reset by the application',
  EPIPE: 'the application closed the connection',
  ETIMEDOUT: 'timed out',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ENOTFOUND: 'unknown host',
  EAI_AGAIN: 'host name lookup failed',
  ENOTSOCK: 'not a socket',
  ENOTDIR: 'a path component is not a directory',
  ENAMETOOLONG: 'path too long for a unix socket',
  EISDIR: 'is a directory',
};

/** "ENOENT (no such file)" for system errors, the message for FCGI_* and other errors. */
export function explainError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const code = (err as NodeJS.ErrnoException).code;
  if (typeof code === 'string' && SYSTEM_ERRORS[code] !== undefined) return `${code} (${SYSTEM_ERRORS[code]})`;
  return err.message;
}

/** The error's `code`, if it has one (checked by value: errors cross realms). */
export function errorCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}
