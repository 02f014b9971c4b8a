// FastCGI params -> a frozen CGI environment object, built once per request and only when asked for.

export type Env = Readonly<Record<string, string>>;

/**
 * Parses "NAME=VALUE\0NAME=VALUE" (as native returns it) into an object without a prototype, so a param
 * named "__proto__" or "constructor" is just a key. The first of duplicate names wins, as FCGX_GetParam does.
 */
export function parseParams(joined: string): Env {
  const env: Record<string, string> = Object.create(null);
  if (joined.length === 0) return Object.freeze(env);
  let start = 0;
  for (;;) {
    const end = joined.indexOf('\0', start);
    const stop = end < 0 ? joined.length : end;
    const eq = joined.indexOf('=', start);
    if (eq >= 0 && eq < stop) {
      const name = joined.slice(start, eq);
      if (!(name in env)) env[name] = joined.slice(eq + 1, stop);
    }
    if (end < 0) break;
    start = end + 1;
  }
  return Object.freeze(env);
}
