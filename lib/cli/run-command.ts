// `libfcgi run`: an existing web app (Express, Koa, Fastify, Connect, Hono, any fetch handler) served over
// FastCGI unchanged, the counterpart of `plackup -s FCGI`.
import { spawn } from 'child_process';
import http from 'http';
import { constants as osConstants } from 'os';
import path from 'path';
import { pathToFileURL } from 'url';
import { fromFetchHandler, type FetchApp, type FetchHandler } from '../adapters/fetch';
import { fromNodeListener, type NodeListener } from '../adapters/node-http';
import type { ListenOptions } from '../listen';
import { createServer, type Handler, type Server } from '../server';
import { kShapesOf } from '../symbols';
import { integerOption, parseCommandLine, parseSocketAddress, UsageError } from './args';
import { nodeArgsForModule } from './load-module';

export const RUN_HELP = `Usage: libfcgi run <app> [options] [-- app arguments]

Serves a web app written for Node's http module or for fetch over FastCGI,
unchanged (the way plackup -s FCGI runs a PSGI app). <app> is loaded (require
or import) and served by what it exports (module.exports or export default):

  an object with .fetch (Hono), or a function of one
  parameter (request) => Response        the fetch adapter
  a Koa app (.callback and .use)         its callback()
  a Fastify instance (.routing, .ready)  ready(), then its routing
  a function (req, res[, next])          a Node listener (Express, Connect)

An app that exports none of these and calls server.listen() itself (Express's
app.listen(3000), Koa's, Fastify's, http.createServer(...).listen): its first
http.Server#listen() serves FastCGI instead of opening the port; the listen
callback and 'listening' run as usual. Later listen() calls open real ports.
WebSocket upgrades cannot pass through FastCGI.

A TypeScript app (.ts, .mts, .cts) runs with Node's own type stripping where
this Node has it, else with tsx installed in the app's project.

Options:
  -s, --socket <path>        listen on this unix socket
  -l, --listen <host:port>   listen on TCP (loopback unless you mean it)
                             (default: neither: the socket on fd 0, as
                             spawn-fcgi and Apache mod_fcgid hand it over)
  -c, --concurrency <n>      requests in flight at once (default 64)
      --mount-path <prefix>  the path the web server routes to the app: cut off
                             req.url below it (default: none)
  -h, --help                 this help

Examples:
  spawn-fcgi -s /run/app.sock -n -- libfcgi run server.js
  libfcgi run app.js --socket /tmp/app.sock --concurrency 16
`;

const OPTIONS = {
  socket: { type: 'string', short: 's' },
  listen: { type: 'string', short: 'l' },
  concurrency: { type: 'string', short: 'c' },
  'mount-path': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

export interface RunCommand {
  app: string;
  listen: ListenOptions | undefined;
  concurrency: number;
  mountPath: string | undefined;
  appArgs: string[];
}

export function parseRunCommand(argv: string[]): RunCommand | undefined {
  const { values, positionals, rest } = parseCommandLine(argv, OPTIONS);
  if (values.help) return undefined;
  if (positionals.length === 0) throw new UsageError('the app to run is missing');
  if (positionals.length > 1) throw new UsageError(`one app expected, got ${positionals.join(' ')}; put the app's arguments after --`);
  if (values.socket !== undefined && values.listen !== undefined) throw new UsageError('give --socket or --listen, not both');
  let listen: ListenOptions | undefined;
  if (values.socket !== undefined) listen = { path: values.socket as string };
  else if (values.listen !== undefined) {
    const address = parseSocketAddress(values.listen as string, '--listen');
    if (!('port' in address)) throw new UsageError(`--listen wants host:port, got ${JSON.stringify(values.listen)}`);
    listen = address;
  }
  return {
    app: positionals[0],
    listen,
    concurrency: integerOption(values.concurrency, 'concurrency', 1, 4096, 64),
    mountPath: values['mount-path'] as string | undefined,
    appArgs: rest,
  };
}

type RunHandler = { kind: string; handler: Handler | Promise<Handler> };

/** What the module exported, as a createServer handler; undefined when it is none of the kinds served. */
export function handlerForExport(value: unknown, mountPath: string | undefined): RunHandler | undefined {
  const options = { mountPath };
  if (value === null || (typeof value !== 'object' && typeof value !== 'function')) return undefined;
  const app = value as Record<string, unknown>;
  if (typeof app.fetch === 'function') return { kind: 'fetch app', handler: fromFetchHandler(app as unknown as FetchApp, options) };
  if (typeof app.callback === 'function' && typeof app.use === 'function' && typeof value === 'object') {
    return { kind: 'Koa app', handler: fromNodeListener((app.callback as () => NodeListener).call(app), options) };
  }
  if (typeof app.routing === 'function' && typeof app.ready === 'function') {
    const ready = (app.ready as () => Promise<unknown>).call(app);
    const routing = app.routing as NodeListener;
    return { kind: 'Fastify app', handler: ready.then(() => fromNodeListener((req, res) => routing.call(app, req, res), options)) };
  }
  if (typeof value === 'function') {
    if (value.length >= 2) return { kind: 'Node listener', handler: fromNodeListener(value as NodeListener, options) };
    return { kind: 'fetch handler', handler: fromFetchHandler(value as FetchHandler, options) };
  }
  return undefined;
}

// A real dynamic import (TypeScript would turn import() into require() under CommonJS): loads ESM and CJS alike.
// eslint-disable-next-line @typescript-eslint/no-implied-eval -- the Function constructor is the point: a constant body, no user input
const importModule = new Function('specifier', 'return import(specifier)') as (specifier: string) => Promise<Record<string, unknown>>;

/**
 * Runs `libfcgi run` again in a child Node with `nodeArgs` (type stripping behind a flag cannot be turned on in a
 * running process). The child inherits fd 0 (the listening socket) and the other descriptors; signals are passed on.
 */
function rerunWith(nodeArgs: string[], argv: string[]): Promise<number> {
  const child = spawn(process.execPath, [...nodeArgs, path.join(__dirname, 'main.js'), 'run', ...argv], { stdio: 'inherit' });
  const forward = (signal: NodeJS.Signals) => child.kill(signal);
  const signals: NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGUSR2'];
  for (const signal of signals) process.on(signal, forward);
  return new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      for (const s of signals) process.removeListener(s, forward);
      resolve(code ?? (signal === null ? 1 : 128 + (osConstants.signals[signal] ?? 0)));
    });
  });
}

function say(line: string): void {
  process.stderr.write(`libfcgi run: ${line}\n`);
}

export async function runRun(argv: string[]): Promise<number> {
  let command: RunCommand | undefined;
  try {
    command = parseRunCommand(argv);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`libfcgi run: ${err.message}\nTry 'libfcgi run --help'.\n`);
      return 2;
    }
    throw err;
  }
  if (command === undefined) {
    process.stdout.write(RUN_HELP);
    return 0;
  }
  const { listen, concurrency, mountPath } = command;
  const file = path.resolve(command.app);
  process.argv = [process.argv[0], file, ...command.appArgs];

  let served: Server | undefined;
  const serve = async (kind: string, handler: Handler | Promise<Handler>): Promise<Server> => {
    const server = createServer(await handler, { concurrency });
    await server.listen(listen);
    say(`serving ${path.basename(file)} (${kind}) on ${listen === undefined ? 'fd 0' : JSON.stringify(listen)}`);
    return server;
  };

  // Before the app loads: its first http.Server#listen() serves FastCGI instead.
  // eslint-disable-next-line @typescript-eslint/unbound-method -- kept only to be put back on the prototype, never called unbound
  const originalListen = http.Server.prototype.listen;
  const restoreListen = () => {
    http.Server.prototype.listen = originalListen;
  };
  http.Server.prototype.listen = function listenOverFastCGI(this: http.Server, ...args: unknown[]): http.Server {
    restoreListen();
    const callback = args.find((a): a is () => void => typeof a === 'function');
    if (callback) this.once('listening', callback);
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- the `function close` below has its own `this`
    const httpServer = this;
    const listener: NodeListener = (req, res) => {
      httpServer.emit('request', req, res);
    };
    // The app the server was made with (http.createServer(app), as Express's app.listen does): the adapter primes
    // req/res for its prototypes (lib/adapters/app-shapes.ts) while requests still go through emit('request').
    const own = httpServer.listeners('request');
    serve('listen() of the app', fromNodeListener(listener, { mountPath, [kShapesOf]: own.length === 1 ? own[0] : undefined })).then(
      (server) => {
        served = server;
        httpServer.address = () => server.address() as unknown as ReturnType<http.Server['address']>;
        httpServer.close = function close(cb?: (err?: Error) => void) {
          server.close().then(
            () => {
              httpServer.emit('close');
              cb?.();
            },
            (err: Error) => cb?.(err),
          ); // as Node's close(): a failure goes to the callback only
          return httpServer;
        };
        httpServer.emit('listening');
      },
      (err: unknown) => httpServer.emit('error', err),
    );
    return this;
  } as typeof http.Server.prototype.listen;

  // TypeScript: Node's own type stripping, else tsx from the app's project, registered in this process (its
  // loader hooks apply to what is imported after it), else a message saying what to install.
  let nodeArgs: string[];
  try {
    nodeArgs = nodeArgsForModule(file);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    restoreListen();
    process.stderr.write(`libfcgi run: ${err.message}\n`);
    return 2;
  }
  if (nodeArgs[0] === '--import') await importModule(nodeArgs[1]);
  else if (nodeArgs.length > 0) {
    restoreListen();
    return rerunWith(nodeArgs, argv);
  }

  const ns = await importModule(pathToFileURL(file).href);
  if (served !== undefined || http.Server.prototype.listen === originalListen) return 0; // its listen() is served
  let exported = 'default' in ns ? ns.default : ns;
  // A module compiled to CommonJS from `export default` (tsc, tsx in a CommonJS package): import() gives its
  // module.exports, whose `default` is the app.
  if (
    typeof exported === 'object' &&
    exported !== null &&
    (exported as { __esModule?: unknown }).__esModule === true &&
    'default' in exported
  ) {
    exported = exported.default;
  }
  const found = handlerForExport(exported, mountPath);
  if (found === undefined) {
    // Nothing to serve yet: the app may still call listen() (after connecting to its database, say).
    say(`${path.basename(file)} exports no app (fetch handler, Node listener, Koa or Fastify app); waiting for its listen()`);
    return 0;
  }
  restoreListen();
  served = await serve(found.kind, found.handler);
  return 0;
}
