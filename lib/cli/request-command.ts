// `libfcgi request`: one request to a running FastCGI application, like `cgi-fcgi -bind -connect`.
import fs from 'fs';
import path from 'path';
import { Readable } from 'stream';
import { CgiResponseParser, type CgiResponseHead } from '../client/cgi-response';
import { type BodySource } from '../client/body-source';
import { FastCGIClient } from '../client/client';
import { requestRejection } from '../client/fcgi-request';
import { Role, type RoleName } from '../client/protocol';
import { formatSocketAddress, integerOption, parseCommandLine, parseSocketAddress, UsageError } from './args';
import { applyParamOverrides, BadRequestError, cgiParams, parseParamOption } from './cgi-params';
import { explainError } from './explain';
import { serverSoftware } from './version';

export const REQUEST_HELP = `Usage: libfcgi request --connect <path|host:port> [options] [/path?query]

Sends one request to a FastCGI application and prints the response, like
\`cgi-fcgi -bind -connect\`. The params are the CGI/1.1 set a web server sends
(REQUEST_METHOD, REQUEST_URI, SCRIPT_NAME, PATH_INFO, QUERY_STRING, DOCUMENT_URI,
DOCUMENT_ROOT, CONTENT_TYPE, CONTENT_LENGTH, SERVER_*, REMOTE_ADDR=127.0.0.1,
HTTP_HOST=localhost, HTTP_* for each --header). The path defaults to /.

Options:
  -c, --connect <addr>      the application: a unix socket path, or host:port
                            (":9000" is 127.0.0.1:9000)
  -X, --method <M>          request method (default GET, or POST with --data)
  -d, --data <data>         request body: a string, @file, or @- for stdin;
                            CONTENT_TYPE defaults to application/x-www-form-urlencoded
  -H, --header <'N: v'>     a request header field, sent as HTTP_N (repeatable);
                            Content-Type also sets CONTENT_TYPE, Host SERVER_NAME
  -p, --param <NAME=VALUE>  set a param, replacing the derived one; NAME alone
                            removes it (repeatable)
      --document-root <dir> DOCUMENT_ROOT (default: the current directory);
                            SCRIPT_FILENAME is DOCUMENT_ROOT + SCRIPT_NAME
      --script-name <pfx>   mount point: SCRIPT_NAME=<pfx>, PATH_INFO=the rest
                            (default: SCRIPT_NAME=path, PATH_INFO empty, as nginx)
      --role <role>         RESPONDER (default), AUTHORIZER or FILTER (whose
                            FCGI_DATA stream is then empty)
  -b, --body-only           print only the response body
      --raw                 print the application's output as it sent it (the CGI
                            header with its Status field, then the body)
  -t, --timeout <ms>        give up when the application is silent this long
                            (default 30000; 0 waits forever)
  -h, --help                this help

Output: the status line ("HTTP/1.1 200 OK"), the header fields and a blank
line (CRLF line ends), then the body; the application's FCGI_STDERR goes to
stderr as it arrives.

Exit status:
  0  the application answered with status 1xx, 2xx or 3xx
  1  no answer: cannot connect, timeout, connection closed early, the request
     was rejected (UNKNOWN_ROLE, OVERLOADED), or the output is not a CGI response
  2  usage error
  3  the application answered with status 400 or above (with --body-only too,
     so a health check fails on an error page; --raw: 0 whatever the status)

Examples:
  libfcgi request --connect /tmp/app.sock /status
  libfcgi request -c 127.0.0.1:9000 -X POST -d @form.txt -H 'Cookie: a=1' /submit
  libfcgi request -c /run/app.sock -b /healthz >/dev/null || echo down
  libfcgi request -c /run/php/php-fpm.sock --document-root /var/www/html /index.php
`;

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;
export const EXIT_HTTP_ERROR = 3;

const OPTIONS = {
  connect: { type: 'string', short: 'c' },
  method: { type: 'string', short: 'X' },
  data: { type: 'string', short: 'd' },
  header: { type: 'string', short: 'H', multiple: true },
  param: { type: 'string', short: 'p', multiple: true },
  'document-root': { type: 'string' },
  'script-name': { type: 'string' },
  role: { type: 'string' },
  'body-only': { type: 'boolean', short: 'b' },
  raw: { type: 'boolean' },
  timeout: { type: 'string', short: 't' },
  help: { type: 'boolean', short: 'h' },
} as const;

const DEFAULT_TIMEOUT_MS = 30_000;
const METHOD = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

interface RequestBody {
  source: BodySource;
  length: number;
}

/** --data: a string, @file (streamed) or @- (stdin, read whole so CONTENT_LENGTH is known). */
async function readData(data: string): Promise<RequestBody> {
  if (!data.startsWith('@')) {
    const bytes = Buffer.from(data, 'utf8');
    return { source: bytes, length: bytes.length };
  }
  const file = data.slice(1);
  if (file === '-') {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    const bytes = Buffer.concat(chunks);
    return { source: bytes, length: bytes.length };
  }
  let stat: fs.Stats;
  try {
    stat = fs.statSync(file);
  } catch (err) {
    throw new UsageError(`--data @${file}: ${explainError(err)}`);
  }
  if (!stat.isFile()) throw new UsageError(`--data @${file}: not a regular file`);
  return { source: fs.createReadStream(file), length: stat.size };
}

/** A string's UTF-8 bytes as a latin1 string (one char per byte): what cgiParams takes for a target or a header. */
function utf8Bytes(text: string): string {
  return Buffer.from(text, 'utf8').toString('latin1');
}

function parseHeader(text: string): [string, string] {
  const colon = text.indexOf(':');
  const name = colon < 0 ? '' : text.slice(0, colon).trim();
  if (!HEADER_NAME.test(name)) throw new UsageError(`--header wants 'Name: value', got ${JSON.stringify(text)}`);
  const value = text.slice(colon + 1).trim();
  if (/[\r\n\0]/.test(value)) throw new UsageError(`--header ${name}: the value has a CR, LF or NUL`);
  return [name, value];
}

function parseRole(text: string | undefined): RoleName {
  if (text === undefined) return 'RESPONDER';
  const role = text.toUpperCase();
  if (!Object.prototype.hasOwnProperty.call(Role, role)) {
    throw new UsageError(`--role must be RESPONDER, AUTHORIZER or FILTER, got ${JSON.stringify(text)}`);
  }
  return role as RoleName;
}

interface RequestCommand {
  connect: ReturnType<typeof parseSocketAddress>;
  method: string;
  target: string;
  data: string | undefined;
  headers: Array<[string, string]>;
  overrides: Array<[string, string | undefined]>;
  documentRoot: string;
  scriptName: string | undefined;
  role: RoleName;
  bodyOnly: boolean;
  raw: boolean;
  timeoutMs: number;
}

/** Parses the command line; undefined for --help. */
export function parseRequestCommand(argv: string[]): RequestCommand | undefined {
  const { values, positionals, rest } = parseCommandLine(argv, OPTIONS);
  if (values.help) return undefined;
  const targets = [...positionals, ...rest];
  if (targets.length > 1) throw new UsageError(`one request path expected, got ${targets.length}: ${targets.join(' ')}`);
  const target = targets[0] ?? '/';
  if (!target.startsWith('/')) throw new UsageError(`the request path must start with '/', got ${JSON.stringify(target)}`);
  if (/[\s\0]/.test(target)) throw new UsageError('the request path must not contain spaces or control characters (use %20)');
  if (typeof values.connect !== 'string') throw new UsageError('--connect <path|host:port> is required');
  const connect = parseSocketAddress(values.connect, '--connect');
  if ('port' in connect && connect.port === 0) throw new UsageError('--connect: port 0 is not a port to connect to');
  const data = values.data as string | undefined;
  const method = ((values.method as string | undefined) ?? (data === undefined ? 'GET' : 'POST')).toUpperCase();
  if (!METHOD.test(method)) throw new UsageError(`--method: not a method name: ${JSON.stringify(method)}`);
  return {
    connect,
    method,
    target,
    data,
    headers: ((values.header as string[] | undefined) ?? []).map(parseHeader),
    overrides: ((values.param as string[] | undefined) ?? []).map(parseParamOption),
    documentRoot: path.resolve((values['document-root'] as string | undefined) ?? process.cwd()),
    scriptName: values['script-name'] as string | undefined,
    role: parseRole(values.role as string | undefined),
    bodyOnly: values['body-only'] === true,
    raw: values.raw === true,
    timeoutMs: integerOption(values.timeout, 'timeout', 0, 0x7fffffff, DEFAULT_TIMEOUT_MS),
  };
}

/** Writes to stdout, resolving when it has taken the bytes (backpressure for large bodies). */
function writeOut(bytes: Uint8Array | string): Promise<void> {
  return new Promise((resolve) => {
    if (process.stdout.write(bytes)) resolve();
    else process.stdout.once('drain', resolve);
  });
}

function statusBlock(head: CgiResponseHead): string {
  let text = `HTTP/1.1 ${head.status} ${head.statusText}\r\n`;
  for (const [name, value] of head.headers) text += `${name}: ${value}\r\n`;
  return `${text}\r\n`;
}

/** Runs `libfcgi request`; resolves with the exit status. */
export async function runRequest(argv: string[]): Promise<number> {
  const fail = (message: string): number => {
    process.stderr.write(`libfcgi request: ${message}\n`);
    return EXIT_FAILURE;
  };
  let command: RequestCommand | undefined;
  let body: RequestBody | undefined;
  try {
    command = parseRequestCommand(argv);
    if (command === undefined) {
      process.stdout.write(REQUEST_HELP);
      return EXIT_OK;
    }
    if (command.data !== undefined) body = await readData(command.data);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`libfcgi request: ${err.message}\nTry 'libfcgi request --help'.\n`);
    return EXIT_USAGE;
  }

  // What the command line gives is text; the params take the bytes a client would send (UTF-8, as curl sends what
  // a terminal types), written as a latin1 string of bytes as Node's http server hands over a request line.
  const headers = command.headers.map(([name, value]): [string, string] => [name, utf8Bytes(value)]);
  const has = (name: string) => headers.some(([n]) => n.toLowerCase() === name);
  if (!has('host')) headers.unshift(['Host', 'localhost']);
  if (body !== undefined && !has('content-type')) headers.push(['Content-Type', 'application/x-www-form-urlencoded']);
  let params;
  try {
    params = cgiParams({
      method: command.method,
      target: utf8Bytes(command.target),
      httpVersion: '1.1',
      headers,
      contentLength: body?.length,
      https: false,
      remoteAddress: '127.0.0.1',
      serverAddress: '127.0.0.1',
      serverPort: 80,
      documentRoot: utf8Bytes(command.documentRoot),
      scriptName: command.scriptName === undefined ? undefined : utf8Bytes(command.scriptName),
      serverSoftware: serverSoftware(),
    });
  } catch (err) {
    if (!(err instanceof BadRequestError)) throw err;
    process.stderr.write(`libfcgi request: ${err.message}\n`);
    return EXIT_USAGE;
  }
  params = applyParamOverrides(params, command.overrides);

  const where = formatSocketAddress(command.connect);
  const timeout = command.timeoutMs === 0 ? undefined : command.timeoutMs;
  let client: FastCGIClient;
  try {
    client = await FastCGIClient.connect(command.connect, { timeout });
  } catch (err) {
    (body?.source as Readable | undefined)?.destroy?.();
    return fail(`cannot connect to ${where}: ${explainError(err)}`);
  }

  try {
    const request = client.request({ params, body: body?.source, role: command.role, keepConn: false });
    request.stderr.on('data', (chunk: Buffer) => process.stderr.write(chunk));
    const parser = new CgiResponseParser();
    const { raw, bodyOnly } = command;
    let outputError: Error | undefined;
    for await (const chunk of request.stdout as AsyncIterable<Buffer>) {
      if (raw) {
        await writeOut(chunk);
        continue;
      }
      let bodyBytes: Buffer;
      const hadHead = parser.head !== undefined;
      try {
        bodyBytes = parser.push(chunk);
      } catch (err) {
        outputError = err as Error;
        break;
      }
      if (!hadHead && parser.head !== undefined && !bodyOnly) await writeOut(statusBlock(parser.head));
      if (bodyBytes.length > 0) await writeOut(bodyBytes);
    }
    if (outputError !== undefined) {
      request.abort();
      return fail(`${where}: ${explainError(outputError)}`);
    }
    const end = await request.done;
    const rejection = requestRejection(end.protocolStatus);
    if (rejection) return fail(`${where}: ${rejection.message}`);
    if (raw) return EXIT_OK;
    let head: CgiResponseHead;
    try {
      head = parser.end();
    } catch (err) {
      return fail(`${where}: ${explainError(err)}`);
    }
    return head.status >= 400 ? EXIT_HTTP_ERROR : EXIT_OK;
  } catch (err) {
    return fail(`${where}: ${explainError(err)}`);
  } finally {
    await client.close();
  }
}
