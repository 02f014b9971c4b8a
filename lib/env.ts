// FastCGI params -> a frozen CGI environment object, built once per request and only when asked for.

/** A request's params (CGI environment): names to values, values as latin1 strings (one char per byte). */
export type Env = Readonly<Record<string, string>>;

/**
 * The names of one params layout, in the order the web server sends them. A web server sends the same names
 * in the same order for every request of a location (nginx's fastcgi_param list plus the client's headers),
 * so a layout seen once is checked in place on the next request instead of being parsed again: the names are
 * compared where they stand (no name string is cut out and hashed), only the values are cut out, and the
 * object is filled in the same order every time (one hidden class, fast properties).
 */
interface Layout {
  readonly names: readonly string[];
  /** false for a repeated name: the first of duplicate names wins, as FCGX_GetParam does. */
  readonly first: readonly boolean[];
  /** Requests that matched this layout. */
  hits: number;
  /** Fills a fresh env from the values, once the layout has proven common (see compileLayout). */
  build: ((values: readonly string[]) => Record<string, string>) | undefined;
}

/** The layouts seen last (a few locations, header sets), most recently used first. */
const layouts: Layout[] = [];
const LAYOUTS_MAX = 8;
/** Names per layout kept at most (a request with more is parsed the general way every time). */
const LAYOUT_NAMES_MAX = 128;
/** A layout is compiled once it matched this many requests: one-off layouts never cost a compilation. */
const COMPILE_AFTER_HITS = 16;
/** Compilations per process at most (the names come from the web server: a bound, whatever it sends). */
const COMPILED_MAX = 64;
let compiled = 0;
/** Values cut out by matchLayout (reused: parseParams is synchronous). */
const values: string[] = [];

/** Cuts the values of `joined` into `values` if its names are exactly layout's; false at the first difference. */
function matchLayout(layout: Layout, joined: string): boolean {
  const { names, first } = layout;
  let start = 0;
  let k = 0;
  for (let i = 0; i < names.length; i++) {
    const name = names[i];
    const eq = start + name.length;
    if (joined.charCodeAt(eq) !== 61 /* = */ || !joined.startsWith(name, start)) return false;
    let end = joined.indexOf('\0', eq + 1);
    if (end < 0) end = joined.length;
    if (first[i]) values[k++] = joined.slice(eq + 1, end);
    start = end + 1;
  }
  // Every pair used, nothing after the last one.
  return start >= joined.length && (names.length > 0 || joined.length === 0);
}

/** A fresh object without a prototype that keeps fast properties (Object.create(null) is a dictionary). */
function emptyEnv(): Record<string, string> {
  return Object.setPrototypeOf({}, null) as Record<string, string>;
}

/**
 * Parses "NAME=VALUE\0NAME=VALUE" (as native returns it) into an object without a prototype, so a param
 * named "__proto__" or "constructor" is just a key. The first of duplicate names wins, as FCGX_GetParam does.
 */
export function parseParams(joined: string): Env {
  for (let l = 0; l < layouts.length; l++) {
    const layout = layouts[l];
    if (!matchLayout(layout, joined)) continue;
    if (l > 0) {
      layouts.splice(l, 1);
      layouts.unshift(layout);
    }
    layout.hits++;
    if (layout.build === undefined && layout.hits >= COMPILE_AFTER_HITS && compiled < COMPILED_MAX) compileLayout(layout);
    let env: Record<string, string>;
    if (layout.build !== undefined) {
      env = layout.build(values);
    } else {
      env = emptyEnv();
      const { names, first } = layout;
      let k = 0;
      for (let i = 0; i < names.length; i++) if (first[i]) env[names[i]] = values[k++];
    }
    values.length = 0; // no request's values stay referenced
    return Object.freeze(env);
  }
  return parseNew(joined);
}

/**
 * Gives a common layout a function that fills the env with one store per name written out:
 * `(v) => { const env = emptyEnv(); env["REQUEST_URI"] = v[0]; ...; return env; }`. Filling by
 * `env[names[i]] = ...` in a loop makes each store look the name up (one store site, every name: about half of
 * the env's cost on nginx's ~20 params, bench/README.md); written out, every store is a fixed one. The names are
 * embedded as JSON string literals (JSON.stringify escapes quotes, backslashes and control characters), so a
 * name is never code.
 */
function compileLayout(layout: Layout): void {
  compiled++;
  const stores: string[] = [];
  let k = 0;
  layout.names.forEach((name, i) => {
    if (layout.first[i]) stores.push(`env[${JSON.stringify(name)}] = v[${k++}];`);
  });
  let make: (e: typeof emptyEnv) => (values: readonly string[]) => Record<string, string>;
  try {
    // eslint-disable-next-line @typescript-eslint/no-implied-eval -- generated from JSON string literals only (see above); the point is one fixed store per name
    make = new Function('emptyEnv', `return function build(v) { const env = emptyEnv(); ${stores.join(' ')} return env; };`) as typeof make;
  } catch {
    // Code generation disallowed (node --disallow-code-generation-from-strings, a CSP-like policy): the loop
    // above stays the path, and no layout tries again.
    compiled = COMPILED_MAX;
    return;
  }
  layout.build = make(emptyEnv);
}

/** The general parse; learns the layout when every pair is well formed. */
function parseNew(joined: string): Env {
  // No `in` checks (a megamorphic runtime call per name; bench/README.md): the object has no prototype, so
  // undefined means absent.
  const env: Record<string, string> = Object.create(null) as Record<string, string>;
  const names: string[] = [];
  const first: boolean[] = [];
  let wellFormed = true;
  let start = 0;
  while (start < joined.length) {
    let end = joined.indexOf('\0', start);
    if (end < 0) end = joined.length;
    const eq = joined.indexOf('=', start);
    if (eq >= 0 && eq < end) {
      const name = joined.slice(start, eq);
      const isFirst = env[name] === undefined;
      if (isFirst) env[name] = joined.slice(eq + 1, end);
      names.push(name);
      first.push(isFirst);
    } else {
      wellFormed = false;
    }
    start = end + 1;
  }
  if (wellFormed && names.length > 0 && names.length <= LAYOUT_NAMES_MAX) {
    layouts.unshift({ names, first, hits: 1, build: undefined });
    if (layouts.length > LAYOUTS_MAX) layouts.pop();
  }
  return Object.freeze(env);
}

/** @internal for tests: forget the layouts seen. */
export function forgetLayouts(): void {
  layouts.length = 0;
  compiled = 0;
}

/** @internal for tests: how many layouts are cached and how many were compiled. */
export function layoutStats(): { cached: number; compiled: number } {
  return { cached: layouts.length, compiled };
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
