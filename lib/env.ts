// FastCGI params -> a frozen CGI environment object, built once per request and only when asked for.

/** A request's params (CGI environment): names to values, values as latin1 strings (one char per byte). */
export type Env = Readonly<Record<string, string>>;

/**
 * Parses "NAME=VALUE\0NAME=VALUE" (as native returns it) into an object without a prototype, so a param
 * named "__proto__" or "constructor" is just a key. The first of duplicate names wins, as FCGX_GetParam does.
 */
export function parseParams(joined: string): Env {
  // No `in` checks (a megamorphic runtime call per name; bench/README.md): the object has no prototype, so
  // undefined means absent.
  const env: Record<string, string> = Object.create(null);
  let start = 0;
  while (start < joined.length) {
    let end = joined.indexOf('\0', start);
    if (end < 0) end = joined.length;
    const eq = joined.indexOf('=', start);
    if (eq >= 0 && eq < end) {
      const name = joined.slice(start, eq);
      if (env[name] === undefined) env[name] = joined.slice(eq + 1, end);
    }
    start = end + 1;
  }
  return Object.freeze(env);
}

/** One param straight from the joined string (first occurrence wins), without building the whole env. */
export function findParam(joined: string, name: string): string | undefined {
  if (name.length === 0 || name.includes('=') || name.includes('\0')) return undefined;
  const key = `${name}=`;
  let at = joined.startsWith(key) ? 0 : joined.indexOf(`\0${key}`);
  if (at < 0) return undefined;
  if (at > 0 || joined[0] === '\0') at += 1;
  const valueStart = at + key.length;
  const end = joined.indexOf('\0', valueStart);
  return joined.slice(valueStart, end < 0 ? joined.length : end);
}
