#!/usr/bin/env node
// Where an app's JS-thread time goes next to its baseline's, under the same load at the same time: both behind
// one nginx, wrk on each at once (as bench/pair.js), `perf record` on both processes (cpu-clock samples, JIT
// code named through --perf-basic-prof), and each main thread's samples sorted by what the sampled code is
// (our JavaScript, the app's packages, Node's JavaScript, V8, Node's C++, fcgi.node, libc, kernel, GC).
// Time, not instructions: cache misses and the kernel count, as they do in req/s.
'use strict';

const { execFileSync, spawn } = require('child_process');
const fs = require('fs');
const path = require('path');
const H = require('./harness');

const USAGE = `usage: node bench/perf-split.js [--app express] [--variant hello] [--duration S] [--symbols N] [--keep-data FILE] [--json FILE]
  --app NAME      an app with a baseline (${H.APP_DEFS.filter((d) => d.baseline)
    .map((d) => `${d.name} ÷ ${d.baseline}`)
    .join(', ')}); default express
  --variant V     default hello
  --duration S    seconds of recorded load (default 10, after 8 s of warm-up)
  --symbols N     also list the N symbols with the most samples in the app, each next to the baseline's
  --keep-data FILE  keep perf.data there (perf report -i FILE -g caller: who calls a symbol)
  --json FILE     also write the table as JSON`;

function parseArgs(argv) {
  const o = { app: 'express', variant: 'hello', duration: 10, symbols: 0, keepData: undefined, json: undefined };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = () => argv[++i];
    if (a === '--app') o.app = v();
    else if (a === '--variant') o.variant = v();
    else if (a === '--duration') o.duration = Number(v());
    else if (a === '--symbols') o.symbols = Number(v());
    else if (a === '--keep-data') o.keepData = v();
    else if (a === '--json') o.json = v();
    else {
      process.stdout.write(`${USAGE}\n`);
      process.exit(a === '--help' || a === '-h' ? 0 : 2);
    }
  }
  return o;
}

/** What a sample's innermost frame is ("ip symbol" as `perf script -F tid,ip,sym` prints it). */
function category(ip, sym) {
  if (/^f{8}/.test(ip)) return 'kernel';
  if (sym.startsWith('JS:')) {
    if (sym.includes('node_modules/')) return "JavaScript: the app's packages";
    if (sym.includes(`${H.ROOT}/dist/`)) return 'JavaScript: libfcgi (dist/)';
    if (sym.includes(' node:')) return "JavaScript: Node's own (streams, http)";
    return 'JavaScript: other (the app)';
  }
  if (sym.startsWith('RegExp:')) return 'regular expressions';
  if (/Scaveng|Marking|MarkCompact|Sweep|Heap::|heap::|Evacuat|GlobalHandles/.test(sym)) return 'GC (main thread)';
  if (sym.startsWith('Builtins_')) return 'V8 builtins';
  if (sym.startsWith('v8::') || sym.startsWith('cppgc::')) return 'V8 runtime';
  if (/^(libfcgi::|FCGX_|ReadParams|FillBuffProc|NewStream|CloseRecords|EmptyBuffProc|OS_)/.test(sym)) return 'fcgi.node';
  if (/^(node::|napi_|uv_|uv__|llhttp)/.test(sym)) return "Node's C++, libuv, llhttp";
  if (/^(malloc|cfree|free|_int_|operator new|operator delete|unlink_chunk|malloc_consolidate|realloc)/.test(sym)) return 'malloc/free';
  if (/^(pthread_|__GI___pthread|__pthread)/.test(sym)) return 'locks';
  return 'libc, libstdc++, other';
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const def = H.APP_DEFS.find((d) => d.name === opts.app);
  if (!def || !def.baseline) throw new Error(`--app ${opts.app}: not an app with a baseline\n${USAGE}`);
  const base = H.APP_DEFS.find((d) => d.name === def.baseline);
  const tools = H.ensureTools(['nginx', 'wrk', 'cc', 'perf']);
  for (const t of ['nginx', 'wrk', 'perf']) if (!tools[t]) throw new Error(`${t} is missing (apt-get install nginx-light wrk linux-perf)`);
  const dir = H.makeTempDir('libfcgi-perf-split-');
  process.on('exit', () => {
    H.killAllSync();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const port = await H.freePort();
  const scripts = H.writeWrkScripts(dir);
  const defs = [def, base];
  const apps = [];
  for (const d of defs) {
    apps.push(await H.startApp(d, { dir, tools, port, nodeArgs: ['--perf-basic-prof'], env: { LIBFCGI_BENCH_CONCURRENCY: '64' } }));
  }
  await H.startNginx({ dir, port, apps: defs, keepalive: 32, nginxBin: tools.nginx });
  const both = (durationS) =>
    Promise.all(
      defs.map((d) =>
        H.runWrk({ wrkBin: tools.wrk, scripts, port, app: d.name, mode: 'kept', variant: opts.variant, connections: 16, durationS }),
      ),
    );
  for (const d of defs) {
    const failure = await H.checkReply(port, d.name, 'kept', opts.variant);
    if (failure) throw new Error(`${d.name} ${opts.variant}: ${failure}`);
  }
  await both(8); // V8 settles
  const data = path.join(dir, 'perf.data');
  const pids = apps.map((a) => a.handle.pid);
  const recorder = spawn(tools.perf, ['record', '-F', '999', '-g', '-o', data, '-p', pids.join(',')], { stdio: 'ignore' });
  await H.sleep(300);
  const runs = await both(opts.duration);
  recorder.kill('SIGINT');
  await new Promise((resolve) => recorder.on('exit', resolve));
  await H.stopAll();
  if (opts.keepData) fs.copyFileSync(data, opts.keepData);

  const script = execFileSync(tools.perf, ['script', '-i', data, '-F', 'tid,ip,sym'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
    maxBuffer: 1 << 30,
  });
  // Samples: a "tid" line, then the call chain innermost first ("ip sym" lines), then a blank line.
  const counts = pids.map(() => new Map());
  const bySymbol = pids.map(() => new Map());
  let tid;
  let first = true;
  for (const line of script.split('\n')) {
    if (/^\s*\d+\s*$/.test(line)) {
      tid = Number(line.trim());
      first = true;
    } else if (line.trim() === '') {
      tid = undefined;
    } else if (first && tid !== undefined) {
      first = false;
      const k = pids.indexOf(tid); // the main thread's tid is the pid
      if (k < 0) continue;
      const [ip, ...rest] = line.trim().split(/\s+/);
      const sym = rest.join(' ');
      const c = category(ip, sym);
      counts[k].set(c, (counts[k].get(c) ?? 0) + 1);
      const name = `${c === 'kernel' ? '[k] ' : ''}${sym.replace(/\+0x[0-9a-f]+$/, '')}`;
      bySymbol[k].set(name, (bySymbol[k].get(name) ?? 0) + 1);
    }
  }
  // One sample is 1/999 s: µs per request = samples × (1e6 / 999) / requests.
  const perRequest = (k, n) => (n * (1e6 / 999)) / Math.max(1, runs[k].requests);
  const cats = [...new Set(counts.flatMap((m) => [...m.keys()]))].sort(
    (a, b) => (counts[0].get(b) ?? 0) + (counts[1].get(b) ?? 0) - ((counts[0].get(a) ?? 0) + (counts[1].get(a) ?? 0)),
  );
  const rows = cats.map((c) => ({
    category: c,
    app: perRequest(0, counts[0].get(c) ?? 0),
    baseline: perRequest(1, counts[1].get(c) ?? 0),
  }));
  const total = (k) =>
    perRequest(
      k,
      [...counts[k].values()].reduce((a, b) => a + b, 0),
    );
  const f = (x) => x.toFixed(1);
  const out = [
    `${new Date().toISOString()} — node bench/perf-split.js ${process.argv.slice(2).join(' ')}`,
    `source: commit ${H.sourceInfo().commit}; ${opts.duration} s recorded, both apps under load at once (wrk -c16 each); ` +
      `${def.name} ${runs[0].requests} requests, ${base.name} ${runs[1].requests}`,
    '',
    `| JS thread, µs per request (perf samples at 999 Hz) | ${def.name} | ${base.name} | difference |`,
    '| --- | ---: | ---: | ---: |',
    ...rows.map(
      (r) => `| ${r.category} | ${f(r.app)} | ${f(r.baseline)} | ${r.app - r.baseline >= 0 ? '+' : ''}${f(r.app - r.baseline)} |`,
    ),
    `| **total** | **${f(total(0))}** | **${f(total(1))}** | **${total(0) - total(1) >= 0 ? '+' : ''}${f(total(0) - total(1))}** |`,
  ];
  if (opts.symbols > 0) {
    const top = [...bySymbol[0].entries()].sort((a, b) => b[1] - a[1]).slice(0, opts.symbols);
    out.push('', `| symbol (innermost frame) | ${def.name} | ${base.name} |`, '| --- | ---: | ---: |');
    for (const [name, n] of top)
      out.push(`| ${name.slice(0, 110)} | ${f(perRequest(0, n))} | ${f(perRequest(1, bySymbol[1].get(name) ?? 0))} |`);
  }
  process.stdout.write(`${out.join('\n')}\n`);
  if (opts.json) {
    fs.writeFileSync(
      opts.json,
      `${JSON.stringify({ date: new Date().toISOString(), options: opts, source: H.sourceInfo(), requests: runs.map((r) => r.requests), rows, total: [total(0), total(1)] }, null, 1)}\n`,
    );
  }
}

main().catch((err) => {
  process.stderr.write(`${err.stack || err}\n`);
  process.exit(1);
});
