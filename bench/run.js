#!/usr/bin/env node
// npm run bench: nginx + wrk against each app on its own unix socket, rounds interleaved; a table and JSON.
'use strict';

const fs = require('fs');
const path = require('path');
const H = require('./harness');

const USAGE = `usage: node bench/run.js [options]
  --smoke                 check every app's replies a few times (no timing); exit 1 on a wrong reply
  --rounds N              measured rounds (default 3); apps are interleaved within each round
  --duration S            seconds per wrk run (default 5)
  --warmup S              seconds per app/variant/mode in an unrecorded first round (default 1; 0: none)
  --apps a,b              of: ${H.APP_DEFS.map((a) => a.name).join(', ')} (default all available);
                          app@/abs/checkout: that app from another checkout (built there), side by side
  --variants a,b          of: ${Object.keys(H.VARIANTS).join(', ')}
  --modes a,b             of: ${H.MODES.join(', ')} (new connection per request / nginx keeps
                          connections, keepalive_requests unbounded / at nginx's default 1000)
  --connections N         wrk connections (default 16; -t1 always)
  --keepalive N           nginx upstream keepalive pool in kept mode (default 32)
  --server-concurrency N  requests in flight for the concurrent server (default 64)
  --memory / --no-memory  RSS of the concurrent server idle and after 100k requests (default: on, not in --smoke)
  --json FILE             write the JSON there (default bench/results/latest.json and a dated copy)
  --keep-tmp              keep the temp dir (configs, logs)`;

function usageError(message) {
  return Object.assign(new Error(message), { usage: true });
}

function parseArgs(argv) {
  const o = {
    smoke: false,
    rounds: 3,
    duration: 5,
    warmup: 1,
    apps: undefined,
    variants: Object.keys(H.VARIANTS),
    modes: [...H.MODES],
    connections: 16,
    keepalive: 32,
    serverConcurrency: 64,
    memory: undefined,
    json: undefined,
    keepTmp: false,
  };
  const num = (name, v, min) => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < min) throw usageError(`${name} must be a number >= ${min}`);
    return n;
  };
  const list = (name, v, allowed) => {
    const items = String(v || '')
      .split(',')
      .filter(Boolean);
    for (const i of items)
      if (!allowed.includes(i.replace(/@\/.*$/, ''))) throw usageError(`${name}: unknown "${i}" (known: ${allowed.join(', ')})`);
    if (items.length === 0) throw usageError(`${name} needs a list`);
    return items;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => argv[++i];
    switch (a) {
      case '--smoke':
        o.smoke = true;
        break;
      case '--rounds':
        o.rounds = Math.floor(num(a, next(), 1));
        break;
      case '--duration':
        o.duration = num(a, next(), 1);
        break;
      case '--warmup':
        o.warmup = num(a, next(), 0);
        break;
      case '--apps':
        o.apps = list(
          a,
          next(),
          H.APP_DEFS.map((d) => d.name),
        );
        break;
      case '--variants':
        o.variants = list(a, next(), Object.keys(H.VARIANTS));
        break;
      case '--modes':
        o.modes = list(a, next(), H.MODES);
        break;
      case '--connections':
        o.connections = Math.floor(num(a, next(), 1));
        break;
      case '--keepalive':
        o.keepalive = Math.floor(num(a, next(), 1));
        break;
      case '--server-concurrency':
        o.serverConcurrency = Math.floor(num(a, next(), 1));
        break;
      case '--memory':
        o.memory = true;
        break;
      case '--no-memory':
        o.memory = false;
        break;
      case '--json':
        o.json = next();
        break;
      case '--keep-tmp':
        o.keepTmp = true;
        break;
      case '-h':
      case '--help':
        process.stdout.write(`${USAGE}\n`);
        process.exit(0);
        break;
      default:
        throw usageError(`unknown argument ${a}\n${USAGE}`);
    }
  }
  if (o.memory === undefined) o.memory = !o.smoke;
  return o;
}

// ---------- cleanup on every way out ----------

let tempDir;
let keepTmp = false;
function removeTemp() {
  if (tempDir && !keepTmp) fs.rmSync(tempDir, { recursive: true, force: true });
  tempDir = undefined;
}
process.on('exit', () => {
  H.killAllSync();
  removeTemp();
});
let interrupted = false;
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    interrupted = true;
    H.log(`bench: ${sig}, stopping everything`);
    H.stopAll().finally(() => {
      removeTemp();
      process.exit(sig === 'SIGINT' ? 130 : 143);
    });
  });
}

// ---------- the benchmark ----------

/** The concurrent server's apps take their concurrency from the environment. */
const CONCURRENCY_APPS = new Set(['server', 'server-readme', 'express']);
function appEnv(def, opts) {
  return CONCURRENCY_APPS.has(H.baseName(def)) ? { LIBFCGI_BENCH_CONCURRENCY: String(opts.serverConcurrency) } : {};
}

async function startApps(defs, ctx, opts) {
  const running = {};
  for (const def of defs) {
    running[def.name] = await H.startApp(def, { ...ctx, env: appEnv(def, opts) });
    H.log(`bench: ${def.label} listening (pid ${running[def.name].handle.pid})`);
  }
  return running;
}

/** Checks `times` replies of app/mode/variant; returns the failures. */
async function checkMany(port, app, mode, variant, times, parallel = 1) {
  const failures = [];
  for (let i = 0; i < times; i += parallel) {
    const batch = [];
    for (let j = 0; j < parallel && i + j < times; j++) batch.push(H.checkReply(port, app, mode, variant));
    for (const f of await Promise.all(batch)) if (f) failures.push(f);
  }
  return failures;
}

// Apps that serve several kept connections at once (one-thread loops stall on the second kept connection).
const CONCURRENT_KEPT = new Set(['sync', 'server', 'server-readme', 'go', 'node-http', 'express', 'express-http', 'hono', 'hono-node']);
/** Whether `def` serves `variant` (the Hono pair serves hello and json only). */
const serves = (def, variant) => H.appVariants(def).includes(variant);
// Known defects of peers, not ours: reported by --smoke, never failing it. node-fastcgi 2.0.0 resets
// connections nginx keeps (a POST then gets 502: nginx does not retry a non-idempotent request).
const KNOWN_PEER_DEFECTS = { 'node-fastcgi': ['kept', 'kept1k'] };
const knownDefect = (app, mode) => (KNOWN_PEER_DEFECTS[app] || []).includes(mode);

async function smoke(defs, running, ctx, opts) {
  const startNginx = () => H.startNginx({ ...ctx, apps: defs, keepalive: opts.keepalive, nginxBin: ctx.tools.nginx });
  let nginx = await startNginx();
  const errorLines = [];
  const failures = [];
  try {
    // New connections first: after the kept checks the one-thread loops (C, PHP) sit on nginx's idle kept
    // connection, and a new connection would wait in their backlog until nginx times out.
    const modes = [...opts.modes].sort((a, b) => H.MODES.indexOf(a) - H.MODES.indexOf(b));
    for (const def of defs) {
      let keptDone = false;
      for (const mode of modes) {
        // A one-thread loop still sits on the idle connection of the previous kept pool (kept, then kept1k
        // is a second pool): a fresh nginx closes it, as each measured run does.
        if (H.isKept(mode) && keptDone && !CONCURRENT_KEPT.has(H.baseName(def))) {
          errorLines.push(...H.errorLines(nginx.errorLog()));
          await H.stopProcess(nginx.handle);
          nginx = await startNginx();
        }
        if (H.isKept(mode)) keptDone = true;
        for (const variant of opts.variants) {
          if (!serves(def, variant)) continue;
          const f = await checkMany(ctx.port, def.name, mode, variant, 4);
          // A burst of parallel requests: new connections queue in the backlog for every app; kept ones only
          // for apps that serve several connections at once.
          if (mode === 'new' || CONCURRENT_KEPT.has(H.baseName(def))) f.push(...(await checkMany(ctx.port, def.name, mode, variant, 8, 8)));
          const known = f.length > 0 && knownDefect(def.name, mode);
          if (!known) failures.push(...f);
          console.log(
            `${f.length ? (known ? 'WARN' : 'FAIL') : 'ok  '} ${def.name.padEnd(13)} ${mode.padEnd(5)} ${variant}${known ? ' (known peer defect, not counted)' : ''}`,
          );
          for (const x of f) console.log(`     ${x}`);
        }
      }
      if (running[def.name].handle.exited) failures.push(`${def.name} exited (${running[def.name].handle.exitCode})`);
    }
  } finally {
    await H.stopProcess(nginx.handle);
  }
  const all = [...errorLines, ...H.errorLines(nginx.errorLog())];
  const errs = all.filter(
    (l) => !Object.entries(KNOWN_PEER_DEFECTS).some(([app, modes]) => modes.some((m) => l.includes(`/${app}/${m}/`))),
  );
  if (all.length > errs.length) console.log(`     (${all.length - errs.length} nginx error line(s) from known peer defects, not counted)`);
  if (errs.length) {
    failures.push(`nginx logged ${errs.length} error(s)`);
    for (const l of errs.slice(0, 10)) console.log(`     ${l}`);
  }
  return failures;
}

/** One measured run: fresh nginx (no connection state carried over), reply checks, wrk, readings. */
async function measure(app, mode, variant, running, ctx, opts, durationS) {
  const nginx = await H.startNginx({ ...ctx, apps: ctx.defs, keepalive: opts.keepalive, nginxBin: ctx.tools.nginx });
  const result = { app, mode, variant, load1: require('os').loadavg()[0] };
  try {
    const failures = await checkMany(ctx.port, app, mode, variant, 3);
    if (failures.length) {
      result.checkFailures = failures;
      return result;
    }
    const appPids = running[app].pids();
    const nginxPids = nginx.workerPids();
    const app0 = H.cpuTicks(appPids);
    const main0 = H.mainThreadTicks(appPids);
    const ng0 = H.cpuTicks(nginxPids);
    const m0 = H.machineTicks();
    const w = await H.runWrk({
      wrkBin: ctx.tools.wrk,
      scripts: ctx.scripts,
      port: ctx.port,
      app,
      mode,
      variant,
      connections: opts.connections,
      durationS,
    });
    // Processes that started during the run (none expected) are read at the end only.
    const app1 = H.cpuTicks(running[app].pids());
    const main1 = H.mainThreadTicks(appPids);
    const ng1 = H.cpuTicks(nginxPids);
    const m1 = H.machineTicks();
    const tickUs = 1e6 / H.CLK_TCK;
    // CPU used by everything else on the machine during the run, in cores (0 on a quiet machine; wrk's
    // own CPU is sampled every 200 ms, so up to that much of it may count here).
    const wallTicks = (m1.total - m0.total) / require('os').cpus().length || 1;
    const other = (m1.busy - m0.busy - (app1 - app0) - (ng1 - ng0) - w.wrkTicks) / wallTicks;
    Object.assign(result, {
      requests: w.requests,
      rps: w.requests / (w.duration_us / 1e6),
      p50Ms: w.lat_p50_us / 1000,
      p99Ms: w.lat_p99_us / 1000,
      maxMs: w.lat_max_us / 1000,
      appCpuUs: w.requests ? ((app1 - app0) * tickUs) / w.requests : undefined,
      mainCpuUs: w.requests ? ((main1 - main0) * tickUs) / w.requests : undefined,
      nginxCpuUs: w.requests ? ((ng1 - ng0) * tickUs) / w.requests : undefined,
      non2xx: w.status,
      socketErrors: w.connect + w.read + w.write,
      timeouts: w.timeout,
      otherCores: Math.max(0, other),
      // Of which the hypervisor's: time this VM's CPUs were runnable but given to another guest.
      stealCores: (m1.steal - m0.steal) / wallTicks,
    });
  } finally {
    await H.stopProcess(nginx.handle);
    result.nginxErrors = H.errorLines(nginx.errorLog()).length;
    result.nginxErrorSample = H.errorLines(nginx.errorLog()).slice(0, 3);
  }
  return result;
}

async function benchmark(defs, running, ctx, opts) {
  const runs = [];
  const rounds = opts.warmup > 0 ? [0] : [];
  for (let r = 1; r <= opts.rounds; r++) rounds.push(r);
  for (const round of rounds) {
    const durationS = round === 0 ? opts.warmup : opts.duration;
    H.log(`bench: ${round === 0 ? 'warm-up round' : `round ${round}/${opts.rounds}`} (${durationS} s per run)`);
    for (const variant of opts.variants) {
      for (const mode of opts.modes) {
        // Rotate the order each round so no app always runs first (or right after the same neighbour).
        const order = defs.map((d, i) => defs[(i + round) % defs.length]);
        for (const def of order) {
          if (!serves(def, variant)) continue;
          if (running[def.name].handle.exited) {
            H.log(`bench: ${def.name} had exited (${running[def.name].handle.exitCode}); restarting it`);
            running[def.name] = await H.startApp(def, { ...ctx, env: appEnv(def, opts) });
          }
          const res = await measure(def.name, mode, variant, running, ctx, opts, durationS);
          res.round = round;
          if (res.checkFailures) H.log(`  ${def.name} ${mode} ${variant}: WRONG REPLY ${res.checkFailures[0]}`);
          else {
            H.log(
              `  ${variant.padEnd(5)} ${mode.padEnd(4)} ${def.name.padEnd(13)} ${res.rps.toFixed(0).padStart(7)} req/s` +
                `  p99 ${res.p99Ms.toFixed(2)} ms  app ${fmt(res.appCpuUs, 1)} µs/req (JS thread ${fmt(res.mainCpuUs, 1)})  other load ${fmt(res.otherCores, 2)} (steal ${fmt(res.stealCores, 2)})  nginx errors ${res.nginxErrors}` +
                (res.non2xx || res.timeouts || res.socketErrors
                  ? `  non-2xx ${res.non2xx} timeouts ${res.timeouts} socket ${res.socketErrors}`
                  : ''),
            );
          }
          if (round > 0) runs.push(res);
        }
      }
    }
  }
  return runs;
}

/** RSS of an app idle and after `total` hello requests through nginx (kept mode) at wrk -c`connections`. */
async function memoryFigure(def, ctx, opts, { total = 100_000, connections = 64 } = {}) {
  const app = await H.startApp(def, { ...ctx, env: appEnv(def, opts) });
  const nginx = await H.startNginx({ ...ctx, apps: ctx.defs, keepalive: opts.keepalive, nginxBin: ctx.tools.nginx });
  try {
    const failures = await checkMany(ctx.port, def.name, 'kept', 'hello', 1);
    if (failures.length) throw new Error(failures[0]);
    await H.sleep(1000);
    const idle = H.memoryKiB(app.pids());
    const threads = H.threadCount(app.handle.pid);
    let done = 0;
    const deadline = Date.now() + 120_000;
    while (done < total && Date.now() < deadline) {
      const w = await H.runWrk({ ...ctx, wrkBin: ctx.tools.wrk, app: def.name, mode: 'kept', variant: 'hello', connections, durationS: 2 });
      done += w.requests;
    }
    await H.sleep(500);
    const after = H.memoryKiB(app.pids());
    return { app: def.name, requests: done, connections, idleRssKiB: idle.rss, afterRssKiB: after.rss, peakRssKiB: after.hwm, threads };
  } finally {
    await H.stopProcess(nginx.handle);
    await H.stopProcess(app.handle);
  }
}

// ---------- summaries ----------

function fmt(x, digits = 0) {
  return x === undefined || x === null || Number.isNaN(x) ? '–' : x.toFixed(digits);
}

function summarize(runs, defs, opts) {
  const rows = [];
  for (const variant of opts.variants) {
    for (const mode of opts.modes) {
      for (const def of defs) {
        if (!serves(def, variant)) continue;
        const mine = runs.filter((r) => r.app === def.name && r.variant === variant && r.mode === mode);
        const ok = mine.filter((r) => !r.checkFailures);
        const ratios = [];
        const vsHttp = [];
        const vsBaseline = [];
        for (const r of ok) {
          if (def.baseline) {
            const b = runs.find(
              (x) => x.app === def.baseline && x.variant === variant && x.mode === mode && x.round === r.round && !x.checkFailures,
            );
            if (b && b.rps > 0) vsBaseline.push(r.rps / b.rps);
          }
          const c = runs.find((x) => x.app === 'c' && x.variant === variant && x.mode === mode && x.round === r.round && !x.checkFailures);
          if (c && c.rps > 0) ratios.push(r.rps / c.rps);
          const h = runs.find(
            (x) => x.app === 'node-http' && x.variant === variant && x.mode === mode && x.round === r.round && !x.checkFailures,
          );
          if (h && h.rps > 0) vsHttp.push(r.rps / h.rps);
        }
        const cRuns = runs.filter((x) => x.app === 'c' && x.variant === variant && x.mode === 'new' && !x.checkFailures);
        rows.push({
          variant,
          mode,
          app: def.name,
          label: def.label,
          rounds: ok.length,
          wrongReplies: mine.length - ok.length,
          rps: H.median(ok.map((r) => r.rps)),
          rpsMin: ok.length ? Math.min(...ok.map((r) => r.rps)) : undefined,
          rpsMax: ok.length ? Math.max(...ok.map((r) => r.rps)) : undefined,
          ratioC: H.median(ratios),
          ratioNodeHttp: H.median(vsHttp),
          baseline: def.baseline,
          target: def.target !== false,
          ratioBaseline: H.median(vsBaseline),
          p99Ms: H.median(ok.map((r) => r.p99Ms)),
          appCpuUs: H.median(ok.map((r) => r.appCpuUs)),
          mainCpuUs: H.median(ok.map((r) => r.mainCpuUs)),
          // CPU ratio against the C loop on new connections (the sync loop's target compares these).
          cpuRatioCNew:
            mode === 'new'
              ? ratioOfMedians(
                  ok.map((r) => r.appCpuUs),
                  cRuns.map((r) => r.appCpuUs),
                )
              : undefined,
          nginxCpuUs: H.median(ok.map((r) => r.nginxCpuUs)),
          otherCores: H.median(ok.map((r) => r.otherCores)),
          stealCores: H.median(ok.map((r) => r.stealCores)),
          nginxErrors: sum(ok.map((r) => r.nginxErrors)),
          non2xx: sum(ok.map((r) => r.non2xx)),
          timeouts: sum(ok.map((r) => r.timeouts)),
          socketErrors: sum(ok.map((r) => r.socketErrors)),
        });
      }
    }
  }
  return rows;
}

function sum(xs) {
  return xs.reduce((a, b) => a + (b || 0), 0);
}
function ratioOfMedians(a, b) {
  const ma = H.median(a);
  const mb = H.median(b);
  return ma !== undefined && mb ? ma / mb : undefined;
}

function table(rows) {
  const head = [
    'variant',
    'mode',
    'app',
    'req/s',
    'min–max',
    '× C',
    '× Node http',
    '× baseline',
    'p99 ms',
    'app µs/req',
    'JS thread µs/req',
    'nginx µs/req',
    'other load',
    'steal',
    'errors log/non-2xx/timeout/socket',
  ];
  const lines = [`| ${head.join(' | ')} |`, `| ${head.map((h, i) => (i < 3 ? '---' : '---:')).join(' | ')} |`];
  for (const r of rows) {
    const errs = `${r.nginxErrors}/${r.non2xx}/${r.timeouts}/${r.socketErrors}${r.wrongReplies ? ` WRONG ${r.wrongReplies}` : ''}`;
    lines.push(
      `| ${[
        r.variant,
        r.mode,
        r.app,
        fmt(r.rps),
        r.rpsMin === undefined ? '–' : `${fmt(r.rpsMin)}–${fmt(r.rpsMax)}`,
        fmt(r.ratioC, 2),
        r.app === 'node-http' ? '–' : fmt(r.ratioNodeHttp, 2),
        r.baseline ? `${fmt(r.ratioBaseline, 2)} (${r.baseline})` : '–',
        fmt(r.p99Ms, 2),
        fmt(r.appCpuUs, 1),
        fmt(r.mainCpuUs, 1),
        fmt(r.nginxCpuUs, 1),
        fmt(r.otherCores, 2),
        fmt(r.stealCores, 2),
        errs,
      ].join(' | ')} |`,
    );
  }
  return lines.join('\n');
}

/**
 * The ratios the targets rest on, per variant and kept mode: each app ÷ Node http and the README-style server
 * ÷ the param()/sync one (what the async handler and req.env cost), medians of per-round ratios.
 */
function ratios(runs, rows) {
  const out = [];
  const perRound = (app, base, variant, mode) => {
    const xs = [];
    for (const r of runs) {
      if (r.app !== app || r.variant !== variant || r.mode !== mode || r.checkFailures) continue;
      const b = runs.find((x) => x.app === base && x.variant === variant && x.mode === mode && x.round === r.round && !x.checkFailures);
      if (b && b.rps > 0) xs.push(r.rps / b.rps);
    }
    return xs;
  };
  for (const row of rows) {
    if (!H.isKept(row.mode)) continue;
    const pairs = [];
    if (row.app !== 'node-http') pairs.push('node-http');
    if (row.app === 'server-readme') pairs.push('server');
    for (const base of pairs) {
      const xs = perRound(row.app, base, row.variant, row.mode);
      if (xs.length)
        out.push({
          app: row.app,
          base,
          variant: row.variant,
          mode: row.mode,
          median: H.median(xs),
          min: Math.min(...xs),
          max: Math.max(...xs),
          rounds: xs.length,
        });
    }
  }
  return out;
}

/** The issue's targets, judged on this run's medians. */
function targets(rows) {
  const get = (app, variant, mode) => rows.find((r) => r.app === app && r.variant === variant && r.mode === mode);
  const out = [];
  const add = (name, value, goal, cmp, extra = '') => {
    if (value === undefined) return;
    out.push({ name, value, goal, pass: cmp === '>=' ? value >= goal : value <= goal, extra });
  };
  for (const [variant, goal] of [
    ['hello', 0.9],
    ['echo', 0.9],
    ['big', 0.85],
  ]) {
    const s = get('sync', variant, 'new');
    if (s) add(`sync loop, new connections, ${variant}: × C`, s.ratioC, goal, '>=');
  }
  for (const variant of ['hello', 'big', 'echo']) {
    const s = get('server', variant, 'kept');
    if (s && s.ratioNodeHttp !== undefined) {
      const errors = s.nginxErrors + s.non2xx + s.timeouts + s.socketErrors;
      out.push({
        name: `concurrent server, kept, ${variant}: × Node http (proxy_pass keepalive), no upstream errors`,
        value: s.ratioNodeHttp,
        goal: 1.0,
        pass: s.ratioNodeHttp >= 1.0 && errors === 0,
        extra: errors ? `${errors} errors` : 'no errors',
      });
    }
  }
  // Issue 17: the server as users write it (README-style handler) and the accept loop >= 1.3x Node http, with
  // kept connections, unbounded and at nginx's default keepalive_requests.
  for (const mode of ['kept', 'kept1k']) {
    for (const [app, variants] of [
      ['server-readme', ['hello', 'big', 'echo']],
      ['sync', ['hello']],
    ]) {
      for (const variant of variants) {
        const s = get(app, variant, mode);
        if (!s || s.ratioNodeHttp === undefined) continue;
        const errors = s.nginxErrors + s.non2xx + s.timeouts + s.socketErrors;
        out.push({
          name: `${app === 'sync' ? 'sync loop' : 'concurrent server, README-style handler'}, ${mode}, ${variant}: × Node http, no upstream errors`,
          value: s.ratioNodeHttp,
          goal: 1.3,
          pass: s.ratioNodeHttp >= 1.3 && errors === 0,
          extra: errors ? `${errors} errors` : 'no errors',
        });
      }
    }
  }
  // Framework apps over the adapters vs the same app on its own Node http server (issue 11: >= 1.0x, kept).
  for (const r of rows) {
    if (!r.baseline || !r.target || r.mode !== 'kept' || r.ratioBaseline === undefined) continue;
    const errors = r.nginxErrors + r.non2xx + r.timeouts + r.socketErrors;
    out.push({
      name: `${r.label}, kept, ${r.variant}: × ${r.baseline} (proxy_pass keepalive), no upstream errors`,
      value: r.ratioBaseline,
      goal: 1.0,
      pass: r.ratioBaseline >= 1.0 && errors === 0,
      extra: errors ? `${errors} errors` : 'no errors',
    });
  }
  for (const variant of ['hello', 'big', 'echo']) {
    const s = get('server', variant, 'new');
    if (s) add(`concurrent server, new connections, ${variant}: × C`, s.ratioC, 0.85, '>=');
  }
  for (const variant of ['hello', 'big', 'echo']) {
    const s = get('sync', variant, 'new');
    if (s) add(`sync loop CPU per request, ${variant}: × C's`, s.cpuRatioCNew, 1.5, '<=');
  }
  return out;
}

function machineLine(m) {
  return `${m.nproc} cores (nproc), ${m.cpu}, ${m.memGiB} GiB, Linux ${m.kernel}; node ${m.node}, nginx ${m.nginx}, wrk ${m.wrk}, PHP ${m.php}, node-fastcgi ${m.nodeFastcgi || '–'}, Go ${m.go || '–'}, ${m.cc}`;
}

// ---------- main ----------

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  keepTmp = opts.keepTmp;
  const needed = opts.smoke ? ['nginx', 'php-fpm', 'cc'] : ['nginx', 'wrk', 'php-fpm', 'cc'];
  const tools = H.ensureTools(needed);
  if (!tools.nginx) throw new Error('nginx is missing (apt-get install nginx-light)');
  if (!opts.smoke && !tools.wrk) throw new Error('wrk is missing (apt-get install wrk)');
  tools.go = H.findBinary('go'); // optional: the Go app is skipped with a message without it
  const machine = H.machineInfo(tools);
  const source = H.sourceInfo();

  const unavailable = H.unavailableApps(tools);
  const defs = [];
  for (const def of H.APP_DEFS) {
    if (opts.apps && !opts.apps.includes(def.name)) continue;
    if (unavailable[def.name]) {
      if (opts.apps || def.name === 'sync' || def.name === 'server' || def.name === 'c')
        throw new Error(`${def.name}: ${unavailable[def.name]}`);
      H.log(`bench: skipping ${def.name}: ${unavailable[def.name]}`);
      continue;
    }
    defs.push(def);
  }
  // app@/abs/checkout: the same app run from another checkout (its own dist/ and addon), e.g. the previous commit.
  for (const spec of opts.apps ?? []) {
    const at = spec.indexOf('@/');
    if (at < 0) continue;
    defs.push(
      H.checkoutAppDef(
        H.APP_DEFS.find((d) => d.name === spec.slice(0, at)),
        spec.slice(at + 1),
      ),
    );
  }

  const loadBefore = require('os').loadavg();
  if (!opts.smoke && loadBefore[0] > 1) {
    H.log(
      `bench: warning: load average ${loadBefore.map((l) => l.toFixed(2)).join(' ')} before the run; other work on this machine skews the numbers`,
    );
  }
  tempDir = H.makeTempDir('libfcgi-bench-');
  const ctx = { dir: tempDir, tools, defs, port: await H.freePort() };
  const t0 = Date.now();
  if (defs.some((d) => d.name === 'c')) ctx.cBinary = H.buildC(tempDir, tools.cc);
  if (defs.some((d) => d.name === 'go')) {
    H.log('bench: building apps/go-fcgi.go');
    ctx.goBinary = H.buildGo(tempDir, tools.go);
  }
  ctx.scripts = H.writeWrkScripts(tempDir);
  const running = await startApps(defs, ctx, opts);

  if (opts.smoke) {
    const failures = await smoke(defs, running, ctx, opts);
    await H.stopAll();
    const secs = ((Date.now() - t0) / 1000).toFixed(1);
    if (failures.length) {
      console.log(`bench smoke: ${failures.length} wrong repl${failures.length === 1 ? 'y' : 'ies'} (${secs} s)`);
      process.exitCode = 1;
    } else {
      console.log(
        `bench smoke: every reply right: ${defs.length} apps × ${opts.modes.length} modes × ${opts.variants.length} variants (${secs} s)`,
      );
    }
    return;
  }

  const runs = await benchmark(defs, running, ctx, opts);
  await H.stopAll();

  const memory = [];
  if (opts.memory) {
    for (const name of ['server', 'sync', 'node-http']) {
      const def = defs.find((d) => d.name === name);
      if (!def) continue;
      H.log(`bench: memory of ${def.label}`);
      memory.push(await memoryFigure(def, ctx, opts));
    }
  }

  const rows = summarize(runs, defs, opts);
  const goals = targets(rows);
  const ratioRows = ratios(runs, rows);
  const date = new Date();
  const command = `node bench/run.js ${process.argv.slice(2).join(' ')}`.trim();
  console.log(`\n${date.toISOString()} — ${command}`);
  console.log(machineLine(machine));
  console.log(
    `source: commit ${source.commit}, ${source.uncommittedCodeFiles} uncommitted file(s) under lib/ native/ ext/, addon built ${source.addonBuilt}, dist built ${source.distBuilt}`,
  );
  console.log(
    `wrk -t1 -c${opts.connections} -d${opts.duration}s, ${opts.rounds} rounds (medians), nginx worker_processes 1, keepalive ${opts.keepalive}, server concurrency ${opts.serverConcurrency}\n`,
  );
  console.log(table(rows));
  if (ratioRows.length) {
    console.log('\nratios, kept connections (medians of per-round ratios, min–max):');
    for (const x of ratioRows) {
      console.log(
        `  ${x.variant.padEnd(5)} ${x.mode.padEnd(6)} ${x.app.padEnd(13)} ÷ ${x.base.padEnd(9)} ${x.median.toFixed(2)} (${x.min.toFixed(2)}–${x.max.toFixed(2)}, ${x.rounds} rounds)`,
      );
    }
  }
  if (goals.length) {
    console.log('\ntargets:');
    for (const g of goals) console.log(`  ${g.pass ? 'PASS' : 'MISS'} ${g.name}: ${g.value.toFixed(2)} (goal ${g.goal}) ${g.extra}`);
  }
  if (memory.length) {
    console.log('\nmemory (hello, kept connections, through nginx):');
    for (const m of memory) {
      console.log(
        `  ${m.app.padEnd(10)} idle ${(m.idleRssKiB / 1024).toFixed(1)} MiB, after ${m.requests} requests at -c${m.connections}: ${(m.afterRssKiB / 1024).toFixed(1)} MiB (peak ${(m.peakRssKiB / 1024).toFixed(1)} MiB), ${m.threads} threads`,
      );
    }
  }

  const loadAfter = require('os').loadavg();
  console.log(
    `\nload average before ${loadBefore.map((l) => l.toFixed(2)).join(' ')}, after ${loadAfter.map((l) => l.toFixed(2)).join(' ')}`,
  );
  const json = {
    date: date.toISOString(),
    command,
    machine,
    source,
    loadAverage: { before: loadBefore, after: loadAfter },
    options: opts,
    summary: rows,
    ratios: ratioRows,
    targets: goals,
    memory,
    runs,
  };
  const text = `${JSON.stringify(json, null, 2)}\n`;
  if (opts.json) {
    fs.writeFileSync(opts.json, text);
  } else {
    const dir = path.join(__dirname, 'results');
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'latest.json'), text);
    const stamp = date.toISOString().slice(0, 16).replace(/:/g, '');
    fs.writeFileSync(path.join(dir, `${stamp}.json`), text);
  }
  H.log(`bench: done in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
}

main()
  .catch(async (err) => {
    if (interrupted) return; // the signal handler is stopping everything and sets the exit code
    console.error(`bench: ${err.usage ? err.message : err.stack || err.message}`);
    await H.stopAll();
    process.exitCode = 2;
  })
  .finally(() => {
    removeTemp();
  });
