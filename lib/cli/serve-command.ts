// `libfcgi serve`: N workers of a FastCGI app on one listening socket, behind a development HTTP front end.
import fs from 'fs';
import http from 'http';
import https from 'https';
import type { AddressInfo } from 'net';
import os from 'os';
import path from 'path';
import { formatSocketAddress, integerOption, parseCommandLine, parseSocketAddress, UsageError, type SocketAddress } from './args';
import type { AppSocket } from './app-socket';
import { parseParamOption } from './cgi-params';
import { ConnectionPool } from './connection-pool';
import { explainError } from './explain';
import { createGateway } from './gateway';
import { ServeLog } from './log';
import { serverSoftware } from './version';
import { WorkerPool, workerCommand, type WorkerCommand } from './workers';

export const SERVE_HELP = `Usage: libfcgi serve <app> [options] [-- app arguments]
       libfcgi serve --connect <path|host:port> [options]

Runs a FastCGI application behind a development HTTP server, the way php -S
does for PHP: creates the FastCGI listening socket, starts N workers of the app
with that socket on fd 0 (as spawn-fcgi and Apache mod_fcgid start them, so the
app runs unchanged under those: \`new FastCGI()\` with no options), and turns each
HTTP request into a FastCGI request with the CGI/1.1 params nginx's
fastcgi_params sends. For production, put nginx or Apache in front instead.

<app> is run as: node <app> (.js .mjs .cjs); for .ts .mts .cts, with Node's own
type stripping where this Node has it (22.6+), else node --import tsx <app>
(tsx installed in the app's project); the file itself if executable.

Options:
  -l, --listen <host:port>  HTTP address (default 127.0.0.1:8080); port 0 picks
                            a free port (the banner shows the real one)
  -w, --workers <n>         worker processes (default 1)
  -s, --socket <path>       the FastCGI socket (default: app.sock in a new temp
                            dir); removed on exit
  -c, --connect <addr>      front an application that is already running (a
                            unix socket path or host:port): no workers, no socket
  -t, --timeout <ms>        504 when the application is silent this long
                            (default 60000, as nginx's fastcgi_read_timeout)
      --no-keep-conn        one FastCGI connection per request; by default
                            connections are kept (FCGI_KEEP_CONN) and reused
      --document-root <dir> DOCUMENT_ROOT (default: the current directory);
                            SCRIPT_FILENAME is DOCUMENT_ROOT + SCRIPT_NAME
      --script-name <pfx>   mount point: SCRIPT_NAME=<pfx>, PATH_INFO=the rest
                            (default: SCRIPT_NAME=path, PATH_INFO empty, as nginx)
  -p, --param <NAME=VALUE>  add or replace a param on every request; NAME
                            alone removes it (repeatable)
      --tls-cert <file>     serve HTTPS with this certificate (PEM) and
      --tls-key <file>      key; the app then sees HTTPS=on, REQUEST_SCHEME=https
  -q, --quiet               no access log, no worker start lines
  -h, --help                this help

Output: the address banner and one access-log line per request (time, method,
target, status, body bytes, ms) on stdout; worker starts and exits, and errors,
on stderr. The workers share this stdout and stderr; what the app sends as
FCGI_STDERR goes to stderr too.

Behaviour: workers that exit are restarted (back-off from 100 ms doubling to
10 s while they keep crashing). A GET, HEAD, PUT, DELETE, OPTIONS or TRACE
whose body is not streamed and whose connection fails before any response byte
is retried once on a new connection, as nginx does. Responses: the CGI Status field sets the status; a Location
without Status is a 302; repeated fields (Set-Cookie) are kept. The application
unreachable: 502; silent for --timeout: 504; a chunked request body is read
whole first (FastCGI needs CONTENT_LENGTH), up to 64 MiB (else 413).
SIGTERM, SIGINT (Ctrl-C) or SIGHUP: stop taking requests, let those in flight
finish (up to 5 s), SIGTERM the workers (SIGKILL after 5 s), remove the socket,
exit 0 (a second signal: SIGKILL the workers, exit 1). Workers run in their own
process group, so Ctrl-C reaches them only this way. Workers get the environment without FCGI_SOCKET_PATH, FCGI_PORT,
FCGI_HOST and LISTEN_FDS, so apps that read them listen on fd 0.

Examples:
  libfcgi serve examples/hello.ts
  libfcgi serve app.js --workers 4 --listen 0.0.0.0:3000 -- --app-flag
  libfcgi serve --connect /run/php/php-fpm.sock --document-root /var/www/html
`;

const OPTIONS = {
  listen: { type: 'string', short: 'l' },
  workers: { type: 'string', short: 'w' },
  socket: { type: 'string', short: 's' },
  connect: { type: 'string', short: 'c' },
  timeout: { type: 'string', short: 't' },
  'no-keep-conn': { type: 'boolean' },
  'document-root': { type: 'string' },
  'script-name': { type: 'string' },
  param: { type: 'string', short: 'p', multiple: true },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
  quiet: { type: 'boolean', short: 'q' },
  help: { type: 'boolean', short: 'h' },
} as const;

const DEFAULT_LISTEN = '127.0.0.1:8080';
const DEFAULT_TIMEOUT_MS = 60_000;
const MAX_CHUNKED_BODY = 64 * 1024 * 1024;
const DRAIN_REQUESTS_MS = 5000;
const STOP_WORKERS_MS = 5000;
const SHUTDOWN_SIGNALS: NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGHUP'];
/** Variables that would make an app listen somewhere other than fd 0 (examples/hello.ts reads them). */
const LISTEN_VARIABLES = ['FCGI_SOCKET_PATH', 'FCGI_PORT', 'FCGI_HOST', 'LISTEN_FDS', 'LISTEN_PID', 'LISTEN_FDNAMES'];

interface ServeCommand {
  app: string | undefined;
  worker: WorkerCommand | undefined;
  listen: { host: string; port: number };
  workers: number;
  socket: string | undefined;
  connect: SocketAddress | undefined;
  timeoutMs: number;
  keepConn: boolean;
  documentRoot: string;
  scriptName: string | undefined;
  overrides: Array<[string, string | undefined]>;
  tls: { cert: Buffer; key: Buffer } | undefined;
  quiet: boolean;
}

function readPem(file: string, option: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (err) {
    throw new UsageError(`--${option} ${file}: ${explainError(err)}`);
  }
}

/** Parses the command line; undefined for --help. */
export function parseServeCommand(argv: string[]): ServeCommand | undefined {
  const { values, positionals, rest } = parseCommandLine(argv, OPTIONS);
  if (values.help) return undefined;
  const connectText = values.connect as string | undefined;
  let app: string | undefined;
  if (connectText === undefined) {
    if (positionals.length === 0) throw new UsageError('the app to run is missing (or give --connect)');
    if (positionals.length > 1) {
      throw new UsageError(`one app expected, got ${positionals.join(' ')}; put the app's arguments after --`);
    }
    app = positionals[0];
  } else {
    if (positionals.length > 0 || rest.length > 0) throw new UsageError('--connect fronts a running app: no app to run');
    if (values.workers !== undefined || values.socket !== undefined) {
      throw new UsageError('--workers and --socket are for an app libfcgi serve runs, not with --connect');
    }
  }
  const listen = parseSocketAddress((values.listen as string | undefined) ?? DEFAULT_LISTEN, '--listen', true);
  if ('path' in listen) throw new UsageError(`--listen wants host:port (or a port), got ${JSON.stringify(values.listen)}`);
  const connect = connectText === undefined ? undefined : parseSocketAddress(connectText, '--connect');
  if (connect !== undefined && 'port' in connect && connect.port === 0) throw new UsageError('--connect: port 0');
  const certFile = values['tls-cert'] as string | undefined;
  const keyFile = values['tls-key'] as string | undefined;
  if ((certFile === undefined) !== (keyFile === undefined)) throw new UsageError('--tls-cert and --tls-key go together');
  const documentRoot = path.resolve((values['document-root'] as string | undefined) ?? process.cwd());
  return {
    app,
    worker: app === undefined ? undefined : workerCommand(app, rest),
    listen,
    workers: integerOption(values.workers, 'workers', 1, 1024, 1),
    socket: values.socket as string | undefined,
    connect,
    timeoutMs: integerOption(values.timeout, 'timeout', 1, 0x7fffffff, DEFAULT_TIMEOUT_MS),
    keepConn: values['no-keep-conn'] !== true,
    documentRoot,
    scriptName: values['script-name'] as string | undefined,
    overrides: ((values.param as string[] | undefined) ?? []).map(parseParamOption),
    tls: certFile && keyFile ? { cert: readPem(certFile, 'tls-cert'), key: readPem(keyFile, 'tls-key') } : undefined,
    quiet: values.quiet === true,
  };
}

function workerEnvironment(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of LISTEN_VARIABLES) delete env[name];
  return env;
}

function listen(server: http.Server, address: { host: string; port: number }): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(address.port, address.host, () => {
      server.off('error', reject);
      resolve(server.address() as AddressInfo);
    });
  });
}

function urlOf(address: AddressInfo, tls: boolean): string {
  const host = address.family === 'IPv6' || address.address.includes(':') ? `[${address.address}]` : address.address;
  return `${tls ? 'https' : 'http'}://${host}:${address.port}`;
}

const delay = (ms: number) =>
  new Promise<void>((resolve) => {
    setTimeout(resolve, ms).unref();
  });

/** Runs `libfcgi serve` until a shutdown signal; resolves with the exit status. */
export async function runServe(argv: string[]): Promise<number> {
  let command: ServeCommand | undefined;
  try {
    command = parseServeCommand(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`libfcgi serve: ${err.message}\nTry 'libfcgi serve --help'.\n`);
    return 2;
  }
  if (command === undefined) {
    process.stdout.write(SERVE_HELP);
    return 0;
  }
  const log = new ServeLog('libfcgi serve', command.quiet);

  // What has to be undone, in this order, however we exit.
  let workers: WorkerPool | undefined;
  let appSocket: AppSocket | undefined;
  let tempDir: string | undefined;
  const cleanUpNow = () => {
    workers?.killNow();
    appSocket?.close();
    if (tempDir !== undefined) fs.rmSync(tempDir, { recursive: true, force: true });
  };
  process.once('exit', cleanUpNow); // a crash of the front end must not leave workers and the socket behind

  let target: SocketAddress;
  if (command.worker !== undefined) {
    let socketPath = command.socket;
    if (socketPath === undefined) {
      tempDir = fs.mkdtempSync(path.join(os.tmpdir(), 'libfcgi-'));
      socketPath = path.join(tempDir, 'app.sock');
    }
    try {
      const { createAppSocket } = await import('./app-socket'); // loads the addon: only serve needs it
      appSocket = createAppSocket(socketPath);
    } catch (err) {
      log.error(`cannot create the FastCGI socket ${socketPath}: ${explainError(err)}`);
      cleanUpNow();
      return 1;
    }
    target = { path: appSocket.path };
    workers = new WorkerPool({
      command: command.worker,
      count: command.workers,
      listenFd: appSocket.fd,
      env: workerEnvironment(),
      log,
    });
    workers.start();
  } else {
    target = command.connect as SocketAddress;
  }

  const pool = new ConnectionPool(target, { keepConn: command.keepConn, timeoutMs: command.timeoutMs });
  const gateway = createGateway({
    pool,
    documentRoot: command.documentRoot,
    scriptName: command.scriptName,
    overrides: command.overrides,
    serverSoftware: serverSoftware(),
    maxChunkedBody: MAX_CHUNKED_BODY,
    timeoutMs: command.timeoutMs,
    log,
    unavailable: () => workers?.unavailable(),
  });
  const server = command.tls ? https.createServer(command.tls, gateway.handle) : http.createServer(gateway.handle);
  server.on('clientError', (_err, socket) => {
    // malformed HTTP: 400 as Node would answer it, and no uncaught error
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    else socket.destroy();
  });

  let address: AddressInfo;
  try {
    address = await listen(server, command.listen);
  } catch (err) {
    log.error(
      `cannot listen on ${formatSocketAddress(command.listen)}: ${explainError(err)}` +
        ' (choose another address with --listen; port 0 picks a free one)',
    );
    await workers?.stop(STOP_WORKERS_MS);
    cleanUpNow();
    return 1;
  }
  const appDescription =
    appSocket !== undefined
      ? `${command.workers} worker${command.workers === 1 ? '' : 's'} of ${command.app} on ${appSocket.path}`
      : `the FastCGI application at ${formatSocketAddress(target)}`;
  log.banner(`${urlOf(address, command.tls !== undefined)} -> ${appDescription}`);

  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    for (const name of SHUTDOWN_SIGNALS) process.once(name, () => resolve(name));
  });
  // A second signal while shutting down: stop now.
  for (const name of SHUTDOWN_SIGNALS) {
    process.once(name, () => {
      log.error(`${name} again: stopping the workers with SIGKILL`);
      cleanUpNow();
      process.exit(1);
    });
  }
  log.info(`${signal}: shutting down`);
  server.close();
  server.closeIdleConnections();
  await Promise.race([gateway.idle(), delay(DRAIN_REQUESTS_MS)]);
  server.closeAllConnections();
  await pool.close();
  await workers?.stop(STOP_WORKERS_MS);
  appSocket?.close();
  if (tempDir !== undefined) fs.rmSync(tempDir, { recursive: true, force: true });
  process.off('exit', cleanUpNow);
  log.flush();
  log.info('stopped');
  return 0;
}
