// FastCGI params -> a frozen CGI environment object, built once per request and only when asked for.

/** A request's params (CGI environment): names to values, values as latin1 strings (one char per byte). */
export type Env = Readonly<Record<string, string>>;

/**
 * The names of one params layout, in the order the web server sends them. A web server sends the same names
 * in the same order for every request of a location (nginx's fastcgi_param list plus the client's headers),
 * so a layout seen once is checked on the next request by one regular expression made of its names,
 * `^NAME=([^\x00]*)\x00NAME2=([^\x00]*)...$`: the engine compares the names where they stand and cuts the values
 * out in one native pass (no name string is cut out and hashed; about a third of comparing name by name in
 * JavaScript, bench/README.md), and the object is filled in the same order every time (one hidden class,
 * fast properties).
 */
interface Layout {
  readonly names: readonly string[];
  /** false for a repeated name: the first of duplicate names wins, as FCGX_GetParam does. */
  readonly first: readonly boolean[];
  /**
   * Matches exactly this layout; group k is the value of the k-th name with first[i] (no group for repeats).
   * Made when the layout is seen a second time: a layout seen once (a rare client's header set) costs no
   * expression, and is checked name by name (matchNames).
   */
  match: RegExp | undefined;
  /** Requests that matched this layout. */
  hits: number;
  /** Fills a fresh env from the match's groups, once the layout has proven common (see compileLayout). */
  build: ((groups: readonly string[]) => Record<string, string>) | undefined;
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

/**
 * The expression that matches exactly `names` (each followed by "=" and a value without NUL, pairs separated
 * by NUL). Every character of a name but [A-Za-z0-9_] is written as an escape (\xHH or \uHHHH), so a name is
 * never pattern syntax; `[^\x00]*` cannot pass a separator, so matching never backtracks (linear in the input).
 */
function layoutPattern(names: readonly string[], first: readonly boolean[]): RegExp {
  let source = '^';
  for (let i = 0; i < names.length; i++) {
    const name = names[i];
    let literal = name;
    if (!PLAIN_NAME.test(name)) {
      literal = '';
      for (let c = 0; c < name.length; c++) {
        const code = name.charCodeAt(c);
        literal += code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
      }
    }
    // \x00, not \0: "\0" before a name that starts with a digit would read as an octal escape.
    source += `${i > 0 ? '\\x00' : ''}${literal}${first[i] ? '=([^\\x00]*)' : '=[^\\x00]*'}`;
  }
  return new RegExp(`${source}$`);
}
const PLAIN_NAME = /^[A-Za-z0-9_]*$/;
/**
 * Params longer than this are checked name by name: an expression that fails after a long value steps back
 * through it a character at a time (4 MiB: ~20 ms, against ~1 ms for indexOf), so a peer sending huge params
 * that nearly match a layout would cost the JS thread that much per layout. Requests behind a web server are
 * 0.5-4 KiB.
 */
const PATTERN_MAX_INPUT = 16384;

/** Values cut out by matchNames (reused: parseParams is synchronous); [0] unused, as a match's groups. */
const cut: string[] = [''];

/**
 * A layout seen once, checked name by name: the values of `joined` into `cut` if its names are exactly the
 * layout's, else false at the first difference.
 */
function matchNames(layout: Layout, joined: string): string[] | null {
  const { names, first } = layout;
  let start = 0;
  let k = 1;
  for (let i = 0; i < names.length; i++) {
    const name = names[i];
    const eq = start + name.length;
    if (joined.charCodeAt(eq) !== 61 /* = */ || !joined.startsWith(name, start)) return null;
    let end = joined.indexOf('\0', eq + 1);
    if (end < 0) end = joined.length;
    if (first[i]) cut[k++] = joined.slice(eq + 1, end);
    start = end + 1;
  }
  // Every pair used, nothing after the last one.
  return start >= joined.length ? cut : null;
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
    let groups: readonly string[] | null;
    if (layout.match !== undefined && joined.length <= PATTERN_MAX_INPUT) {
      groups = layout.match.exec(joined);
    } else {
      groups = matchNames(layout, joined);
      if (groups !== null) layout.match ??= layoutPattern(layout.names, layout.first); // seen twice: common
    }
    if (groups === null) continue;
    if (l > 0) {
      layouts.splice(l, 1);
      layouts.unshift(layout);
    }
    layout.hits++;
    if (layout.build === undefined && layout.hits >= COMPILE_AFTER_HITS && compiled < COMPILED_MAX) compileLayout(layout);
    let env: Record<string, string>;
    if (layout.build !== undefined) {
      env = layout.build(groups);
    } else {
      env = emptyEnv();
      const { names, first } = layout;
      let k = 1;
      for (let i = 0; i < names.length; i++) if (first[i]) env[names[i]] = groups[k++];
    }
    if (groups === cut) cut.length = 1; // no request's values stay referenced
    return Object.freeze(env);
  }
  return parseNew(joined);
}

/**
 * Gives a common layout a function that fills the env with one store per name written out:
 * `(v) => { const env = emptyEnv(); env["REQUEST_URI"] = v[1]; ...; return env; }` (v: the match's groups). Filling by
 * `env[names[i]] = ...` in a loop makes each store look the name up (one store site, every name: about half of
 * the env's cost on nginx's ~20 params, bench/README.md); written out, every store is a fixed one. The names are
 * embedded as JSON string literals (JSON.stringify escapes quotes, backslashes and control characters), so a
 * name is never code.
 */
function compileLayout(layout: Layout): void {
  compiled++;
  const stores: string[] = [];
  let k = 1;
  layout.names.forEach((name, i) => {
    if (layout.first[i]) stores.push(`env[${JSON.stringify(name)}] = v[${k++}];`);
  });
  let make: (e: typeof emptyEnv) => (groups: readonly string[]) => Record<string, string>;
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
    layouts.unshift({ names, first, match: undefined, hits: 1, build: undefined });
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
