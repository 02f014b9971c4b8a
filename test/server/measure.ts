// Requests/s through nginx for the concurrent server (concurrency 1, 16, 64; instant and 10 ms handlers), the sync
// loop, and a C program on the system libfcgi (fcgi2's threaded model) as the reference. Not a test: it prints a table.
//   node --import tsx test/server/measure.ts [seconds per run, default 5]
// Each row: a fresh app and nginx (one worker), `wrk -t1 -c16 -dNs`, with nginx's upstream connections either new per
// request (fastcgi_keep_conn off) or kept alive (keep_conn on, keepalive 64). The C reference is measured only with
// new connections: fcgi2's threads stay tied to a kept connection, so with more kept connections than threads nginx
// would queue requests on connections no thread reads.
import { execFileSync, spawnSync } from 'child_process';
import fs from 'fs';
import os from 'os';
import path from 'path';
import { findBinary } from '../helpers/binaries';
import { fixture, startApp, type AppProcess } from '../helpers/app-process';
import { startNginx } from '../helpers/nginx';
import { startProcess, waitForSocketFile } from '../helpers/process';
import { makeTempDir } from '../helpers/tmp';
import { request } from './harness';

const SECONDS = Number(process.argv[2] ?? 5);
const CONNECTIONS = 16;

const C_REFERENCE = String.raw`
/* fcgi2's threaded model (examples/threaded.c): N threads, each FCGX_Accept_r under a mutex, one request each. */
#include <fcgiapp.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>
static int sock, sleep_ms;
static pthread_mutex_t accept_mutex = PTHREAD_MUTEX_INITIALIZER;
static void *serve(void *unused) {
  FCGX_Request req;
  (void)unused;
  FCGX_InitRequest(&req, sock, 0);
  for (;;) {
    pthread_mutex_lock(&accept_mutex);
    int rc = FCGX_Accept_r(&req);
    pthread_mutex_unlock(&accept_mutex);
    if (rc < 0) break;
    if (sleep_ms > 0) {
      struct timespec ts = {0, sleep_ms * 1000000L};
      nanosleep(&ts, NULL);
    }
    FCGX_PutS("Content-Type: text/plain\r\n\r\nok", req.out);
    FCGX_Finish_r(&req);
  }
  return NULL;
}
int main(int argc, char **argv) {
  if (argc != 4) return 2;
  int threads = atoi(argv[2]);
  sleep_ms = atoi(argv[3]);
  FCGX_Init();
  sock = FCGX_OpenSocket(argv[1], 511);
  if (sock < 0) return 1;
  pthread_t *ids = calloc(threads, sizeof *ids);
  for (int i = 1; i < threads; i++) pthread_create(&ids[i], NULL, serve, NULL);
  serve(NULL);
  return 0;
}
`;

interface Row {
  app: string;
  handler: string;
  keepConnOff?: string;
  keepConnOn?: string;
}

interface Target {
  app: string;
  handler: string;
  route: string;
  cOnly?: boolean;
  start(socketPath: string): Promise<{ close(): Promise<unknown> }>;
}

function wrk(url: string): { rps: number; errors: string } {
  const out = execFileSync('wrk', ['-t1', `-c${CONNECTIONS}`, `-d${SECONDS}s`, url], { encoding: 'utf8' });
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN);
  const non2xx = /Non-2xx or 3xx responses:\s+(\d+)/.exec(out)?.[1];
  const socketErrors = /Socket errors:([^\n]*)/.exec(out)?.[1];
  const errors = [non2xx ? `${non2xx} non-2xx` : '', socketErrors ? `socket errors:${socketErrors}` : ''].filter(Boolean).join(', ');
  return { rps, errors };
}

async function measure(target: Target, keepConn: boolean): Promise<string> {
  const dir = makeTempDir('fcgi-measure-');
  const socketPath = path.join(dir, 'app.sock');
  const app = await target.start(socketPath).catch((err: unknown) => {
    fs.rmSync(dir, { recursive: true, force: true });
    throw err;
  });
  try {
    const nginx = await startNginx({ upstream: { path: socketPath }, keepConn, keepalive: 64, errorLogLevel: 'error' });
    try {
      const url = `${nginx.url}${target.route}`;
      const probe = await request(url);
      if (probe.status !== 200 || (probe.text !== 'ok' && !probe.text.startsWith('slept'))) {
        throw new Error(`${target.app}: unexpected reply ${probe.status} ${probe.text.slice(0, 200)}`);
      }
      const { rps, errors } = wrk(url);
      return `${rps.toFixed(0)}${errors ? ` (${errors})` : ''}`;
    } finally {
      await nginx.close();
    }
  } finally {
    await app.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function nodeApp(name: string, env: NodeJS.ProcessEnv) {
  return (socketPath: string): Promise<AppProcess> => startApp(fixture(name), { listen: { path: socketPath }, env });
}

function cApp(binary: string, threads: number, sleepMs: number) {
  return async (socketPath: string) => {
    const proc = await startProcess(binary, [socketPath, String(threads), String(sleepMs)]);
    await waitForSocketFile(socketPath, 5000, { process: proc });
    return { close: () => proc.close({ signal: 'SIGKILL' }) };
  };
}

async function main(): Promise<void> {
  if (!findBinary('wrk') || !findBinary('nginx')) throw new Error('measure.ts needs wrk and nginx');
  const buildDir = makeTempDir('fcgi-measure-c-');
  process.on('exit', () => fs.rmSync(buildDir, { recursive: true, force: true }));
  let cBinary: string | undefined;
  try {
    fs.writeFileSync(path.join(buildDir, 'ref.c'), C_REFERENCE);
    execFileSync('cc', ['-O2', '-pthread', '-o', path.join(buildDir, 'ref'), path.join(buildDir, 'ref.c'), '-lfcgi']);
    cBinary = path.join(buildDir, 'ref');
  } catch (err) {
    console.error(`C reference not built (needs cc and libfcgi-dev): ${(err as Error).message}`);
  }

  const targets: Target[] = [
    { app: 'sync loop (FastCGI.accept)', handler: 'instant', route: '/', start: nodeApp('server-sync-loop.ts', {}) },
    {
      app: 'sync loop (FastCGI.accept)',
      handler: '10 ms (blocking)',
      route: '/',
      start: nodeApp('server-sync-loop.ts', { SYNC_SLEEP_MS: '10' }),
    },
  ];
  for (const concurrency of [1, 16, 64]) {
    const env = { SERVER_CONCURRENCY: String(concurrency) };
    targets.push({
      app: `createServer, concurrency ${concurrency}`,
      handler: 'instant',
      route: '/instant',
      start: nodeApp('server-app.ts', env),
    });
    targets.push({
      app: `createServer, concurrency ${concurrency}`,
      handler: 'await 10 ms',
      route: '/sleep?ms=10',
      start: nodeApp('server-app.ts', env),
    });
  }
  if (cBinary !== undefined) {
    for (const threads of [1, 16, 64]) {
      for (const sleepMs of [0, 10]) {
        targets.push({
          app: `C libfcgi, ${threads} thread${threads > 1 ? 's' : ''}`,
          handler: sleepMs ? '10 ms (nanosleep)' : 'instant',
          route: '/',
          cOnly: true,
          start: cApp(cBinary, threads, sleepMs),
        });
      }
    }
  }

  const rows: Row[] = [];
  for (const target of targets) {
    const row: Row = { app: target.app, handler: target.handler };
    row.keepConnOff = await measure(target, false);
    row.keepConnOn = target.cOnly ? 'n/a' : await measure(target, true);
    rows.push(row);
    process.stderr.write(`${row.app} | ${row.handler} | ${row.keepConnOff} | ${row.keepConnOn}\n`);
  }

  const header = ['app', 'handler', 'req/s, keep_conn off', 'req/s, keep_conn on'];
  const table = rows.map((r) => [r.app, r.handler, r.keepConnOff ?? '', r.keepConnOn ?? '']);
  const widths = header.map((h, i) => Math.max(h.length, ...table.map((t) => t[i].length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
  // nginx -v writes "nginx version: nginx/1.22.1" to stderr.
  const nginxVersion = spawnSync('nginx', ['-v'], { encoding: 'utf8' }).stderr.replace('nginx version: ', '').trim();
  console.log(`wrk -t1 -c${CONNECTIONS} -d${SECONDS}s through ${nginxVersion} (one worker), unix sockets`);
  console.log(`node ${process.version}, ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? '?'}), ${os.platform()} ${os.release()}`);
  console.log(line(header));
  console.log(line(widths.map((w) => '-'.repeat(w))));
  for (const t of table) console.log(line(t));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
