// The CGI/1.1 param set of one HTTP request, as nginx's fastcgi_params sends it: shared by `request` and `serve`.
import { UsageError } from './args';

/** A param value: a string when it is ASCII, else the exact bytes (the client would send a string as UTF-8). */
export type ParamValue = string | Buffer;

export interface CgiRequest {
  method: string;
  /** The request target as received, origin-form: "/a%20b?x=1" (latin1: one char per byte, as Node's http gives it). */
  target: string;
  /** "1.1" */
  httpVersion: string;
  /** Header fields in the order received (latin1 strings); repeats are joined as nginx ≥ 1.23 does. */
  headers: ReadonlyArray<readonly [string, string]>;
  /** Body length in bytes, or undefined when there is no body (CONTENT_LENGTH is then empty, as from nginx). */
  contentLength: number | undefined;
  https: boolean;
  remoteAddress: string;
  remotePort?: number;
  serverAddress: string;
  serverPort: number;
  /** SERVER_NAME; default the Host header's name, else serverAddress. */
  serverName?: string;
  documentRoot: string;
  /**
   * Where the app is mounted. Undefined (the default): SCRIPT_NAME is the whole path and PATH_INFO empty, as nginx
   * sends them without fastcgi_split_path_info. A prefix ("/app", or "/" for the root): SCRIPT_NAME is the prefix
   * (without a trailing slash) and PATH_INFO the rest, as PSGI/WSGI-style adapters expect.
   */
  scriptName?: string;
  serverSoftware: string;
}

/** The request target is not one a server accepts (nginx answers these with 400 too). */
export class BadRequestError extends Error {
  readonly code = 'BAD_REQUEST';
}

const NON_ASCII = /[^\x00-\x7f]/;
/** Header names nginx passes (ignore_invalid_headers, underscores_in_headers off): letters, digits, '-'. */
const PASSED_HEADER_NAME = /^[A-Za-z0-9-]+$/;

/** A latin1 (byte) string as a param value: kept as a string when ASCII, else as its bytes. */
export function bytesParam(latin1: string): ParamValue {
  return NON_ASCII.test(latin1) ? Buffer.from(latin1, 'latin1') : latin1;
}

export interface ParsedTarget {
  /** REQUEST_URI: the target as received (origin-form). */
  requestUri: string;
  /** The decoded, normalised path (latin1 string of bytes): nginx's $uri. */
  path: string;
  /** Everything after the first '?', undecoded ('' when there is none). */
  query: string;
}

/**
 * Splits and normalises a request target as nginx does for $uri: percent-decoding (to bytes), then merging
 * slashes and resolving "." and ".." segments, so "/a/%2e%2e//b" is "/b". A ".." above the root, a bad or NUL
 * escape, or a target that is not a path is a BadRequestError.
 */
export function parseTarget(target: string): ParsedTarget {
  let requestUri = target;
  if (!target.startsWith('/')) {
    // absolute-form ("http://host/path", RFC 9112 3.2.2): the path and query are what the app sees
    const match = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#]*([^#]*)/.exec(target);
    if (match === null) throw new BadRequestError(`the request target must be a path, got ${JSON.stringify(target)}`);
    requestUri = match[1].startsWith('/') ? match[1] : `/${match[1]}`;
  }
  const q = requestUri.indexOf('?');
  const rawPath = q < 0 ? requestUri : requestUri.slice(0, q);
  const query = q < 0 ? '' : requestUri.slice(q + 1);
  return { requestUri, path: normalizePath(rawPath), query };
}

function normalizePath(rawPath: string): string {
  // The common case needs no work: no escapes, no empty or dot segments.
  if (!rawPath.includes('%') && !rawPath.includes('//') && !rawPath.includes('/.')) return rawPath;
  const decoded = rawPath.includes('%') ? percentDecode(rawPath) : rawPath;
  const segments: string[] = [];
  const parts = decoded.split('/');
  let directory = false; // ends in '/', '/.' or '/..': the result names a directory
  for (let i = 1; i < parts.length; i++) {
    const part = parts[i];
    directory = part === '' || part === '.' || part === '..';
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (segments.length === 0) throw new BadRequestError(`the path ${JSON.stringify(rawPath)} goes above the root`);
      segments.pop();
      continue;
    }
    segments.push(part);
  }
  if (segments.length === 0) return '/';
  return `/${segments.join('/')}${directory ? '/' : ''}`;
}

function percentDecode(text: string): string {
  let out = '';
  let from = 0;
  for (let i = text.indexOf('%'); i >= 0; i = text.indexOf('%', from)) {
    const hex = text.slice(i + 1, i + 3);
    const byte = /^[0-9A-Fa-f]{2}$/.test(hex) ? parseInt(hex, 16) : -1;
    if (byte <= 0) throw new BadRequestError(`the path ${JSON.stringify(text)} has a bad or NUL %-escape`);
    out += text.slice(from, i) + String.fromCharCode(byte);
    from = i + 3;
  }
  return out + text.slice(from);
}

/**
 * HTTP_* params for the header fields: names upper-cased with '-' as '_'. Fields with other characters in their
 * name (X_Foo would impersonate X-Foo) are dropped, as nginx does by default, and so is `Proxy` (httpoxy: it
 * would become HTTP_PROXY, which HTTP libraries take for a proxy setting). Repeats are joined with ", "
 * ("; " for Cookie), in order.
 */
export function headerParams(headers: ReadonlyArray<readonly [string, string]>): Array<[string, ParamValue]> {
  const joined = new Map<string, string>();
  for (const [name, value] of headers) {
    if (!PASSED_HEADER_NAME.test(name)) continue;
    const key = `HTTP_${name.toUpperCase().replace(/-/g, '_')}`;
    if (key === 'HTTP_PROXY') continue;
    const previous = joined.get(key);
    joined.set(key, previous === undefined ? value : `${previous}${key === 'HTTP_COOKIE' ? '; ' : ', '}${value}`);
  }
  return [...joined].map(([key, value]) => [key, bytesParam(value)]);
}

function headerValue(headers: CgiRequest['headers'], lowerName: string): string | undefined {
  for (const [name, value] of headers) if (name.toLowerCase() === lowerName) return value;
  return undefined;
}

/** The Host header's host name without the port ("[::1]:80" gives "[::1]"). */
function hostName(host: string | undefined): string | undefined {
  if (host === undefined || host === '') return undefined;
  const match = /^(\[[^\]]*\]|[^:]*)/.exec(host);
  return match?.[1] || undefined;
}

/** SCRIPT_NAME and PATH_INFO for a path under a mount prefix (see CgiRequest.scriptName). */
function splitScriptName(path: string, scriptName: string | undefined): [string, string] {
  if (scriptName === undefined) return [path, ''];
  const prefix = scriptName.replace(/\/+$/, '');
  if (path === prefix || path.startsWith(`${prefix}/`)) return [prefix, path.slice(prefix.length)];
  return [path, '']; // not under the mount point: the whole path is the script, as without a prefix
}

/**
 * The params nginx sends with Debian's fastcgi_params (plus SCRIPT_FILENAME and PATH_INFO), with the same
 * values for the same request: empty CONTENT_TYPE/CONTENT_LENGTH when absent, HTTPS only over TLS, every header
 * as HTTP_*. Throws BadRequestError for a target nginx would refuse.
 */
export function cgiParams(request: CgiRequest): Array<[string, ParamValue]> {
  const { path, query, requestUri } = parseTarget(request.target);
  const [scriptName, pathInfo] = splitScriptName(path, request.scriptName);
  const documentRoot = request.documentRoot.replace(/\/+$/, '');
  const scheme = request.https ? 'https' : 'http';
  const params: Array<[string, ParamValue]> = [
    ['GATEWAY_INTERFACE', 'CGI/1.1'],
    ['SERVER_SOFTWARE', request.serverSoftware],
    ['SERVER_PROTOCOL', `HTTP/${request.httpVersion}`],
    ['REQUEST_SCHEME', scheme],
    ['REQUEST_METHOD', request.method],
    ['REQUEST_URI', bytesParam(requestUri)],
    ['DOCUMENT_URI', bytesParam(path)],
    ['QUERY_STRING', bytesParam(query)],
    ['SCRIPT_NAME', bytesParam(scriptName)],
    ['PATH_INFO', bytesParam(pathInfo)],
    ['DOCUMENT_ROOT', bytesParam(documentRoot)],
    ['SCRIPT_FILENAME', bytesParam(documentRoot + scriptName)],
    ['CONTENT_TYPE', bytesParam(headerValue(request.headers, 'content-type') ?? '')],
    ['CONTENT_LENGTH', request.contentLength === undefined ? '' : String(request.contentLength)],
    ['SERVER_NAME', request.serverName ?? hostName(headerValue(request.headers, 'host')) ?? request.serverAddress],
    ['SERVER_ADDR', request.serverAddress],
    ['SERVER_PORT', String(request.serverPort)],
    ['REMOTE_ADDR', request.remoteAddress],
    // PHP built with --enable-force-cgi-redirect wants it; Debian's fastcgi_params sends it.
    ['REDIRECT_STATUS', '200'],
  ];
  if (request.remotePort !== undefined) params.push(['REMOTE_PORT', String(request.remotePort)]);
  if (request.https) params.push(['HTTPS', 'on']);
  for (const pair of headerParams(request.headers)) params.push(pair);
  return params;
}

/** Applies --param overrides: NAME=VALUE sets (replacing a derived param of that name), NAME alone removes. */
export function applyParamOverrides(
  params: Array<[string, ParamValue]>,
  overrides: ReadonlyArray<readonly [string, string | undefined]>,
): Array<[string, ParamValue]> {
  if (overrides.length === 0) return params;
  const last = new Map(overrides); // a name given twice: the later one counts
  const result = params.filter(([name]) => !last.has(name));
  for (const [name, value] of last) if (value !== undefined) result.push([name, value]);
  return result;
}

/** Parses "NAME=VALUE" (or "NAME" to remove a param) as given to --param. */
export function parseParamOption(text: string): [string, string | undefined] {
  const eq = text.indexOf('=');
  const name = eq < 0 ? text : text.slice(0, eq);
  if (name === '' || name.includes('\0'))
    throw new UsageError(`--param wants NAME=VALUE (or NAME to remove it), got ${JSON.stringify(text)}`);
  return [name, eq < 0 ? undefined : text.slice(eq + 1)];
}
