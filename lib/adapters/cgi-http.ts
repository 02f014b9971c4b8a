// CGI variables -> the HTTP request they describe (method, URL, host, headers, peer): pure functions shared by the adapters.
import { parse as parseCookie } from 'cookie';
import { argTypeError, argValueError } from '../errors';
import { kJoinedParams, kParamIndex } from '../symbols';

/** Reads one CGI variable; undefined when the web server did not send it. */
export type ParamLookup = (name: string) => string | undefined;

/** Where the CGI variables come from: a lookup and, for the headers, the names in the order they were sent. */
export interface CgiParams {
  readonly get: ParamLookup;
  readonly names: () => Iterable<string>;
  /** The params as the web server sent them ("NAME=value\0..."), when known: headers are read from it directly. */
  readonly joined?: string;
  /** Where the HTTP_* entries sit in `joined` ({@link kParamIndex}), when known: headers are sliced, not searched. */
  readonly index?: string;
}

/** CgiParams over a plain environment object (an `Env`, `process.env`, a test's object literal). */
export function envParams(env: Readonly<Record<string, string | undefined>>): CgiParams {
  return { get: (name) => env[name], names: () => Object.keys(env) };
}

/**
 * CgiParams over a request (ServerRequest, the sync loop's Request): single lookups go through `param()`
 * without building `env`; only the header list walks the names (and builds `env`, once).
 */
export function requestParams(req: {
  param(name: string): string | undefined;
  readonly env: Readonly<Record<string, string>>;
  readonly [kJoinedParams]?: string;
  readonly [kParamIndex]?: string;
}): CgiParams {
  return { get: (name) => req.param(name), names: () => Object.keys(req.env), joined: req[kJoinedParams], index: req[kParamIndex] };
}

/** Where the web server mounts the app, for the adapters and {@link ServerRequest.toRequest}. */
export interface MountOptions {
  /**
   * The path prefix the web server routes to this app (nginx `location /app/`, Apache `ScriptAlias /app`).
   * When the request's path is this prefix or below it, the prefix is cut off: the app sees `url` relative to
   * its mount and the prefix as `baseUrl`. Other paths are left whole. Without it the app sees the path the
   * client asked for (REQUEST_URI), whatever SCRIPT_NAME/PATH_INFO say.
   */
  readonly mountPath?: string;
}

/** What both adapters need to present a FastCGI request as an HTTP one. */
export interface HttpRequestInfo {
  method: string;
  /** Path and query, as the client sent them (REQUEST_URI), relative to `mountPath` when one matched. */
  url: string;
  /** The cut-off mount prefix ('' when none matched). */
  baseUrl: string;
  scheme: 'http' | 'https';
  /** '1.1', '1.0', '2.0' (from SERVER_PROTOCOL). */
  httpVersion: string;
  /** Header names and values alternating, in the order the web server sent them (like Node's rawHeaders). */
  rawHeaders: string[];
  remoteAddress: string | undefined;
  remotePort: number | undefined;
  localAddress: string | undefined;
  localPort: number | undefined;
}

/** Checks and normalises `mountPath` once (at adapter creation): '' for none, else '/x' without a trailing slash. */
export function normalizeMountPath(value: unknown, argName = 'mountPath'): string {
  if (value === undefined) return '';
  if (typeof value !== 'string') throw argTypeError(argName, 'of type string', value);
  if (value === '' || value === '/') return '';
  if (!value.startsWith('/') || value.includes('?') || value.includes('#')) {
    throw argValueError(argName, `must be a path starting with '/' without query or fragment. Received ${JSON.stringify(value)}`);
  }
  return value.endsWith('/') ? value.slice(0, -1) : value;
}

export function requestMethod(get: ParamLookup): string {
  return get('REQUEST_METHOD') || 'GET';
}

// Params are bytes as latin1 strings: a char outside the URL's safe set is one byte, written %XX (a UTF-8 path
// stays UTF-8). SCRIPT_NAME/PATH_INFO are decoded by the web server, so '%', '?' and '#' are re-encoded too.
const UNSAFE_PATH = /[^A-Za-z0-9\-._~!$&'()*+,;=:@/]/g;
const UNSAFE_URI = /[^\x21-\x7e]/g;
const HAS_UNSAFE_URI = /[^\x21-\x7e]/;
function percentByte(c: string): string {
  const code = c.charCodeAt(0);
  if (code > 0xff) return encodeURIComponent(c.length === 1 && code >= 0xd800 && code <= 0xdfff ? '\ufffd' : c);
  return code < 16 ? `%0${code.toString(16).toUpperCase()}` : `%${code.toString(16).toUpperCase()}`;
}

/**
 * Path and query: REQUEST_URI when the web server sends it (nginx, Apache, lighttpd all do), else
 * SCRIPT_NAME + PATH_INFO + ('?' QUERY_STRING). An absolute-form REQUEST_URI keeps only its path.
 */
export function requestTarget(get: ParamLookup): string {
  const uri = get('REQUEST_URI');
  if (uri) {
    return requestTargetFrom(HAS_UNSAFE_URI.test(uri) ? uri.replace(UNSAFE_URI, percentByte) : uri);
  }
  const path = ((get('SCRIPT_NAME') ?? '') + (get('PATH_INFO') ?? '')).replace(UNSAFE_PATH, percentByte);
  const slashed = path.charCodeAt(0) === 47 ? path : `/${path}`;
  const query = get('QUERY_STRING');
  return query ? `${slashed}?${query.replace(UNSAFE_URI, percentByte)}` : slashed;
}

function requestTargetFrom(uri: string): string {
  if (uri.charCodeAt(0) === 47 /* / */ || uri === '*') return uri;
  const scheme = uri.indexOf('://');
  if (scheme > 0) {
    const slash = uri.indexOf('/', scheme + 3);
    const q = uri.indexOf('?', scheme + 3);
    if (slash >= 0 && (q < 0 || slash < q)) return uri.slice(slash);
    return q >= 0 ? `/${uri.slice(q)}` : '/';
  }
  return `/${uri}`;
}

/** Cuts a normalised mount prefix off a target: ['/rest?q', '/app'] when it matches, else [target, '']. */
export function unmount(target: string, mountPath: string): [url: string, baseUrl: string] {
  if (mountPath === '' || !target.startsWith(mountPath)) return [target, ''];
  const next = target.charCodeAt(mountPath.length);
  if (Number.isNaN(next)) return ['/', mountPath];
  if (next === 47 /* / */) return [target.slice(mountPath.length), mountPath];
  if (next === 63 /* ? */) return [`/${target.slice(mountPath.length)}`, mountPath];
  return [target, ''];
}

export function requestScheme(get: ParamLookup): 'http' | 'https' {
  const https = get('HTTPS');
  if (https !== undefined && https !== '') {
    const v = https.toLowerCase();
    if (v === 'on' || v === '1') return 'https';
    if (v === 'off' || v === '0') return 'http';
  }
  return get('REQUEST_SCHEME')?.toLowerCase() === 'https' ? 'https' : 'http';
}

// A Host header is used only when it is a plain host[:port] (no '/', '@', spaces): anything else could make
// the URL point elsewhere.
const HOST = /^(?:[A-Za-z0-9._~!$&'()*+,;=%-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;

/** HTTP_HOST, else SERVER_NAME:SERVER_PORT (port omitted when it is the scheme's default), else 'localhost'. */
export function requestHost(get: ParamLookup, scheme: 'http' | 'https'): string {
  const hostHeader = get('HTTP_HOST');
  if (hostHeader && HOST.test(hostHeader)) return hostHeader;
  let name = get('SERVER_NAME') || get('SERVER_ADDR') || 'localhost';
  if (name.includes(':') && name.charCodeAt(0) !== 91 /* [ */) name = `[${name}]`;
  if (!HOST.test(name)) name = 'localhost';
  const port = get('SERVER_PORT');
  if (!port || !/^\d{1,5}$/.test(port) || (scheme === 'http' && port === '80') || (scheme === 'https' && port === '443')) return name;
  return `${name}:${port}`;
}

/** '1.1' from 'HTTP/1.1'; '1.0' when SERVER_PROTOCOL is missing or not HTTP/x.y ('INCLUDED', CGI's odd value). */
export function httpVersion(get: ParamLookup): string {
  const protocol = get('SERVER_PROTOCOL');
  if (protocol === 'HTTP/1.1') return '1.1'; // what nearly every request says: no regular expression
  if (protocol !== undefined) {
    const m = /^HTTP\/(\d)(?:\.(\d))?$/i.exec(protocol);
    if (m) return `${m[1]}.${m[2] ?? '0'}`;
  }
  return '1.0';
}

// Words whose usual spelling is not Capitalised (as in Go's and browsers' conventional names).
const SPECIAL_WORDS: Readonly<Record<string, string>> = {
  ETAG: 'ETag',
  WWW: 'WWW',
  DNT: 'DNT',
  MD5: 'MD5',
  TE: 'TE',
  XSS: 'XSS',
  UA: 'UA',
  IP: 'IP',
  CSRF: 'CSRF',
  XSRF: 'XSRF',
  WEBSOCKET: 'WebSocket',
  CH: 'CH',
  HTTP2: 'HTTP2',
};

const canonicalCache = new Map<string, string>();
const CANONICAL_CACHE_MAX = 512;

/**
 * 'HTTP_X_FORWARDED_FOR' -> 'X-Forwarded-For', 'HTTP_ETAG' -> 'ETag'. Web servers write both '-' and '_' in
 * a header name as '_', so 'X-Foo' and 'X_Foo' arrive alike and come back as 'X-Foo'.
 */
export function canonicalHeaderName(cgiName: string): string {
  let name = canonicalCache.get(cgiName);
  if (name !== undefined) return name;
  const words = cgiName.slice(5).split('_');
  for (let i = 0; i < words.length; i++) {
    const w = words[i];
    words[i] = SPECIAL_WORDS[w.toUpperCase()] ?? (w.length === 0 ? w : w[0].toUpperCase() + w.slice(1).toLowerCase());
  }
  name = words.join('-');
  if (canonicalCache.size < CANONICAL_CACHE_MAX) canonicalCache.set(cgiName, name);
  return name;
}

/**
 * Request headers from HTTP_* in the order sent, plus Content-Type/Content-Length from CONTENT_TYPE/
 * CONTENT_LENGTH: those win over HTTP_CONTENT_TYPE/HTTP_CONTENT_LENGTH (nginx sends both), which are dropped,
 * so a header never has two values. An empty CONTENT_TYPE/CONTENT_LENGTH means absent.
 */
export function rawHeaders(params: CgiParams): string[] {
  const out =
    params.joined === undefined
      ? headersFromNames(params)
      : params.index === undefined
        ? headersFromJoined(params.joined)
        : headersFromIndex(params.joined, params.index);
  const type = params.get('CONTENT_TYPE');
  if (type) out.push('Content-Type', type);
  const length = params.get('CONTENT_LENGTH');
  if (length) out.push('Content-Length', length);
  return out;
}

function headersFromNames(params: CgiParams): string[] {
  const out: string[] = [];
  for (const name of params.names()) {
    if (name.length <= 5 || !name.startsWith('HTTP_')) continue;
    if (name === 'HTTP_CONTENT_TYPE' || name === 'HTTP_CONTENT_LENGTH') continue;
    const value = params.get(name);
    if (value === undefined) continue;
    out.push(canonicalHeaderName(name), value);
  }
  return out;
}

/**
 * The same from the joined params string in one pass, without building `env` (an object of ≈ 20 fresh keys per
 * request, most of the adapters' garbage): HTTP_* entries in order, the first of a repeated name wins (as in env).
 */
function headersFromJoined(joined: string): string[] {
  const out: string[] = [];
  let seen: string[] | undefined;
  let start = 0;
  while (start < joined.length) {
    let end = joined.indexOf('\0', start);
    if (end < 0) end = joined.length;
    if (joined.startsWith('HTTP_', start)) {
      const eq = joined.indexOf('=', start);
      if (eq > start + 5 && eq < end) seen = takeHeader(out, seen, joined, start, eq, end);
    }
    start = end + 1;
  }
  return out;
}

/** The same from the native side's index of the HTTP_* entries ({@link kParamIndex}): sliced, nothing searched. */
function headersFromIndex(joined: string, index: string): string[] {
  const out: string[] = [];
  let seen: string[] | undefined;
  for (let i = 1 + 2 * index.charCodeAt(0); i + 2 < index.length; i += 3) {
    seen = takeHeader(out, seen, joined, index.charCodeAt(i), index.charCodeAt(i + 1), index.charCodeAt(i + 2));
  }
  return out;
}

/**
 * The HTTP_* entry at [start, end) of the joined params ('=' at eq) as a header, unless it is nginx's duplicate of
 * CONTENT_TYPE/CONTENT_LENGTH or a name taken before (the first wins, as in env). `seen`: the CGI names taken so
 * far (made on the first), returned.
 */
function takeHeader(
  out: string[],
  seen: string[] | undefined,
  joined: string,
  start: number,
  eq: number,
  end: number,
): string[] | undefined {
  const name = joined.slice(start, eq);
  if (name === 'HTTP_CONTENT_TYPE' || name === 'HTTP_CONTENT_LENGTH' || (seen !== undefined && seen.includes(name))) return seen;
  (seen ??= []).push(name);
  out.push(canonicalHeaderName(name), joined.slice(eq + 1, end));
  return seen;
}

function port(value: string | undefined): number | undefined {
  if (value === undefined || value.length === 0 || value.length > 5) return undefined;
  let n = 0;
  for (let i = 0; i < value.length; i++) {
    const digit = value.charCodeAt(i) - 48; /* 0 */
    if (digit < 0 || digit > 9) return undefined;
    n = n * 10 + digit;
  }
  return n <= 65535 ? n : undefined;
}

/** The absolute URL of the request (`mountPath` normalised, cut off when it matches). */
export function requestHref(get: ParamLookup, mountPath = ''): string {
  const scheme = requestScheme(get);
  const url = unmount(requestTarget(get), mountPath)[0];
  return `${scheme}://${requestHost(get, scheme)}${url === '*' ? '/' : url}`;
}

/**
 * What the Node-listener adapter needs, once per request; `mountPath` must be normalised already. (The host and
 * the absolute URL, which it does not need, are {@link requestHost} and {@link requestHref}.)
 */
export function cgiToHttp(params: CgiParams, mountPath = ''): HttpRequestInfo {
  const get = params.get;
  const [url, baseUrl] = unmount(requestTarget(get), mountPath);
  return {
    method: requestMethod(get),
    url,
    baseUrl,
    scheme: requestScheme(get),
    httpVersion: httpVersion(get),
    rawHeaders: rawHeaders(params),
    remoteAddress: get('REMOTE_ADDR') || undefined,
    remotePort: port(get('REMOTE_PORT')),
    localAddress: get('SERVER_ADDR') || undefined,
    localPort: port(get('SERVER_PORT')),
  };
}

/** Cookie header -> name/value object without a prototype (ServerRequest and the sync loop's Request). */
export function parseCookies(header: string | undefined): Readonly<Record<string, string>> {
  const out: Record<string, string> = Object.create(null) as Record<string, string>;
  if (!header) return out;
  const parsed = parseCookie(header);
  for (const name of Object.keys(parsed)) {
    const value = parsed[name];
    if (value !== undefined) out[name] = value;
  }
  return out;
}
