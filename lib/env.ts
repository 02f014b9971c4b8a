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
  const env: Record<string, string> = Object.create(null) as Record<string, string>;
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

/** '\0NAME=' search keys of the names asked for (the same few every request), so a lookup allocates nothing. */
const searchKeys = new Map<string, string>();
const SEARCH_KEYS_MAX = 256;

/** One param straight from the joined string (first occurrence wins), without building the whole env. */
export function findParam(joined: string, name: string): string | undefined {
  let key = searchKeys.get(name);
  if (key === undefined) {
    if (name.length === 0 || name.includes('=') || name.includes('\0')) return undefined;
    key = `\0${name}=`;
    if (searchKeys.size < SEARCH_KEYS_MAX) searchKeys.set(name, key);
  }
  // The first entry has no '\0' before it.
  let valueStart: number;
  if (joined.startsWith(name) && joined.charCodeAt(name.length) === 61 /* = */) {
    valueStart = name.length + 1;
  } else {
    const at = joined.indexOf(key);
    if (at < 0) return undefined;
    valueStart = at + key.length;
  }
  const end = joined.indexOf('\0', valueStart);
  return joined.slice(valueStart, end < 0 ? joined.length : end);
}
