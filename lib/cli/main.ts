#!/usr/bin/env node
// The `libfcgi` command: `request` (one request to a FastCGI app), `serve` (an HTTP front end with workers) and
// `run` (an Express/Koa/Fastify/fetch app served over FastCGI).
import { EXIT_USAGE, REQUEST_HELP, runRequest } from './request-command';
import { RUN_HELP, runRun } from './run-command';
import { SERVE_HELP, runServe } from './serve-command';
import { packageVersion } from './version';

const HELP = `Usage: libfcgi <command> [options]

Commands:
  request   send one request to a running FastCGI application and print the
            response (a health check, like cgi-fcgi -bind -connect)
  serve     run a FastCGI app behind a development HTTP front end, with N worker
            processes on one listening socket (like php -S plus spawn-fcgi)
  run       serve an Express, Koa, Fastify, Connect or fetch (Hono) app over
            FastCGI unchanged (like plackup -s FCGI)

Options:
  -h, --help      this help; \`libfcgi <command> --help\` for a command's options
  -v, --version   the version of libfcgi

Examples:
  libfcgi serve examples/hello.ts --workers 2
  libfcgi request --connect /tmp/app.sock /healthz
`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'request':
      return runRequest(rest);
    case 'serve':
      return runServe(rest);
    case 'run':
      return runRun(rest);
    case undefined:
      process.stderr.write(HELP);
      return EXIT_USAGE;
    case '-h':
    case '--help':
    case 'help':
      if (rest[0] === 'request') process.stdout.write(REQUEST_HELP);
      else if (rest[0] === 'serve') process.stdout.write(SERVE_HELP);
      else if (rest[0] === 'run') process.stdout.write(RUN_HELP);
      else process.stdout.write(HELP);
      return 0;
    case '-v':
    case '--version':
      process.stdout.write(`${packageVersion()}\n`);
      return 0;
    default:
      process.stderr.write(`libfcgi: unknown command ${JSON.stringify(command)}\nTry 'libfcgi --help'.\n`);
      return EXIT_USAGE;
  }
}

// `libfcgi request ... | head`: a reader that went away ends us quietly, as SIGPIPE ends C tools.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code !== 'EPIPE') throw err;
  process.exit(process.exitCode ?? 0);
});

main(process.argv.slice(2)).then(
  (code) => {
    // Not process.exit(): stdout may still be draining into a pipe.
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`libfcgi: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  },
);
