// Requests/s through `libfcgi serve` next to nginx in front of the very same workers (nginx -> serve's socket).
//   npm run build:ts && node --import tsx test/cli/measure.ts [app] [rounds]     (default examples/hello.ts, 3)
// Each configuration gets `rounds` runs of `wrk -t1 -c16 -d5s`, interleaved, and the median is printed.
import { execFileSync } from 'child_process';
import fs from 'fs';
import path from 'path';
import { startNginx } from '../helpers/nginx';
import { freePort } from '../helpers/ports';
import { startProcess, waitForListeningPort } from '../helpers/process';
import { makeTempDir } from '../helpers/tmp';
import { CLI, ROOT } from './cli';

function wrk(url: string, seconds: number): number {
  const out = execFileSync('wrk', ['-t1', '-c16', `-d${seconds}s`, url], { encoding: 'utf8' });
  if (/Non-2xx|Socket errors/.test(out)) throw new Error(`${url}: errors\n${out}`);
  return Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** libfcgi serve with its output discarded (the app's console.log must not fill a pipe nobody reads). */
async function serve(args: string[], socketPath: string) {
  const port = await freePort();
  const proc = await startProcess(
    process.execPath,
    [CLI, 'serve', '--quiet', '--listen', `127.0.0.1:${port}`, '--socket', socketPath, ...args],
    { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] },
  );
  await waitForListeningPort(proc, port, 20000);
  return { url: `http://127.0.0.1:${port}/`, close: () => proc.close() };
}

async function main(): Promise<void> {
  const app = process.argv[2] ?? 'examples/hello.ts';
  const rounds = Number(process.argv[3] ?? 3);
  const dir = makeTempDir('fcgi-measure-');
  try {
    for (const workers of [1, 2]) {
      const kept = await serve(['--workers', String(workers), app], path.join(dir, 'kept.sock'));
      const fresh = await serve(['--workers', String(workers), '--no-keep-conn', app], path.join(dir, 'fresh.sock'));
      const nginxKept = await startNginx({ upstream: { path: path.join(dir, 'kept.sock') }, keepConn: true, errorLogLevel: 'error' });
      const nginxFresh = await startNginx({ upstream: { path: path.join(dir, 'kept.sock') }, keepConn: false, errorLogLevel: 'error' });
      try {
        const targets: Array<[string, string]> = [
          ['libfcgi serve (keep-conn)', kept.url],
          ['libfcgi serve (--no-keep-conn)', fresh.url],
          ['nginx (fastcgi_keep_conn on)', `${nginxKept.url}/`],
          ['nginx (fastcgi_keep_conn off)', `${nginxFresh.url}/`],
        ];
        for (const [, url] of targets) wrk(url, 1); // warm-up: JIT, connections
        const results = new Map<string, number[]>(targets.map(([name]) => [name, []]));
        for (let round = 0; round < rounds; round++) {
          for (const [name, url] of targets) results.get(name)?.push(wrk(url, 5));
        }
        for (const [name, runs] of results) {
          const line = `${workers} worker${workers > 1 ? 's' : ' '}  ${name.padEnd(31)} median ${median(runs).toFixed(0).padStart(6)} req/s`;
          console.log(`${line}   (runs: ${runs.map((r) => r.toFixed(0)).join(', ')})`);
        }
      } finally {
        await nginxKept.close();
        await nginxFresh.close();
        await kept.close();
        await fresh.close();
      }
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
