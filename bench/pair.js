#!/usr/bin/env node
// An app and its baseline under load at the same time: two wrk runs started together, each against one of the
// two apps behind the same nginx. Both apps see the same machine at the same moment, so a slow spell (another
// guest, the hypervisor) slows both and their ratio stays put; run.js's rounds run one app after the other, and
// on a shared machine their ratios move far more than most changes are worth. Every round starts both apps
// afresh and warms them up: two processes of the same app can settle at speeds 20 % apart (bench/README.md
// "2026-12-03 morning: paired runs"), so a round samples one pair of processes and the median is over several.
// Per round: req/s of each and the CPU each app's main thread used per request (/proc/<pid>/task/<pid>/stat).
// Usage: node bench/pair.js [--apps a,b] [--variants hello,json] [--rounds N] [--duration S] [--warmup S] [--json FILE]
//   --apps: apps that have a baseline (express: express-http, hono: hono-node, listener: node-http), or
//   app@/abs/checkout: this checkout's app against the same app of another checkout; default express,listener.
'use strict';

const fs = require('fs');
const path = require('path');
const H = require('./harness');

const USAGE = `usage: node bench/pair.js [options]
  --apps a,b        apps with a baseline, each run at the same time as it: ${H.APP_DEFS.filter((d) => d.baseline)
    .map((d) => `${d.name} (÷ ${d.baseline})`)
    .join(', ')};
                    or app@/abs/checkout (÷ the same app of this checkout). Default express,listener
  --variants a,b    default hello and the app's other variants it serves (json, or big,echo); a named variant
                    an app (or its baseline) does not serve is skipped for that app
  --rounds N        default 7
  --duration S      seconds per round (default 4)
  --warmup S        unrecorded load on both after they start (default 5: V8 needs seconds to settle)
  --same-processes  start the apps once per variant (default: fresh processes every round)
  --connections N   wrk connections per app (default 16)
  --json FILE       write the rounds there too`;

function parseArgs(argv) {
  const o = {
    apps: ['express', 'listener'],
    variants: undefined,
    rounds: 7,
    duration: 4,
    warmup: 5,
    connections: 16,
    sameProcesses: false,
    json: undefined,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = () => {
      const x = argv[++i];
      if (x === undefined) usage(`${a} needs a value`);
      return x;
    };
    const n = (min) => {
      const x = Number(v());
      if (!Number.isFinite(x) || x < min) usage(`${a} must be a number >= ${min}`);
      return x;
    };
    if (a === '--apps') o.apps = v().split(',').filter(Boolean);
    else if (a === '--variants') o.variants = v().split(',').filter(Boolean);
    else if (a === '--rounds') o.rounds = Math.floor(n(1));
    else if (a === '--duration') o.duration = n(1);
    else if (a === '--warmup') o.warmup = n(0);
    else if (a === '--connections') o.connections = Math.floor(n(1));
    else if (a === '--same-processes') o.sameProcesses = true;
    else if (a === '--json') o.json = v();
    else usage(a === '--help' || a === '-h' ? undefined : `unknown option ${a}`);
  }
  return o;
}

function usage(message) {
  if (message) process.stderr.write(`pair: ${message}\n`);
  process.stdout.write(`${USAGE}\n`);
  process.exit(message ? 2 : 0);
}

/** [app def, baseline def] for one --apps entry. */
function pairFor(spec) {
  const [name, checkout] = spec.split('@');
  const def = H.APP_DEFS.find((d) => d.name === name);
  if (!def) usage(`unknown app ${name}`);
  if (checkout !== undefined) {
    // The same app from another checkout (e.g. the commit before), against this one's.
    try {
      return [def, H.checkoutAppDef(def, path.resolve(checkout))];
    } catch (err) {
      return usage(err.message);
    }
  }
  if (!def.baseline) usage(`${name} has no baseline (pick one of the apps listed in --help)`);
  return [def, H.APP_DEFS.find((d) => d.name === def.baseline)];
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const tools = H.ensureTools(['nginx', 'wrk', 'cc']);
  for (const t of ['nginx', 'wrk']) if (!tools[t]) throw new Error(`${t} is missing (apt-get install nginx-light wrk)`);
  const dir = H.makeTempDir('libfcgi-pair-');
  const results = { date: new Date().toISOString(), machine: H.machineInfo(tools), source: H.sourceInfo(), options: opts, rounds: [] };
  const summary = [];
  try {
    for (const spec of opts.apps) {
      const [def, base] = pairFor(spec);
      const ctx = { dir, tools, defs: [def, base], port: await H.freePort() };
      ctx.scripts = H.writeWrkScripts(dir);
      // --variants names what to run where it exists: an app that does not serve one (the bare listener has no
      // JSON route) skips it instead of failing the whole run after the other apps' rounds.
      const served = (d) => H.appVariants(H.APP_DEFS.find((a) => a.name === (d.base ?? d.name)) ?? d);
      const variants = (opts.variants ?? served(def)).filter((v) => {
        const ok = served(def).includes(v) && served(base).includes(v);
        if (!ok) H.log(`${def.name}: no ${v} variant, skipped`);
        return ok;
      });
      for (const variant of variants) {
        const ratios = [];
        const cpuRatios = [];
        let started; // { apps, nginx } of the processes running now
        const start = async () => {
          const apps = [];
          for (const d of [def, base]) apps.push(await H.startApp(d, { ...ctx, env: { LIBFCGI_BENCH_CONCURRENCY: '64' } }));
          const nginx = await H.startNginx({ ...ctx, apps: [def, base], keepalive: 32, nginxBin: tools.nginx });
          started = { apps, nginx };
          for (const d of [def, base]) {
            const failure = await H.checkReply(ctx.port, d.name, 'kept', variant);
            if (failure) throw new Error(`${d.name} ${variant}: ${failure}`);
          }
          if (opts.warmup > 0) await both(opts.warmup);
        };
        const stop = async () => {
          if (started === undefined) return;
          await H.stopProcess(started.nginx.handle);
          for (const a of started.apps) await H.stopProcess(a.handle);
          started = undefined;
        };
        const both = (durationS) =>
          Promise.all(
            [def, base].map((d) =>
              H.runWrk({
                wrkBin: tools.wrk,
                scripts: ctx.scripts,
                port: ctx.port,
                app: d.name,
                mode: 'kept',
                variant,
                connections: opts.connections,
                durationS,
              }),
            ),
          );
        try {
          for (let round = 1; round <= opts.rounds; round++) {
            // Fresh processes each round (unless --same-processes): one process of an app can settle faster or
            // slower than the next (JIT, heap layout, which core it shares), and a round measures only one.
            if (started === undefined) await start();
            const apps = started.apps;
            const cpu0 = apps.map((a) => H.mainThreadTicks([a.handle.pid]));
            const runs = await both(opts.duration);
            const cpu = apps.map(
              (a, i) => ((H.mainThreadTicks([a.handle.pid]) - cpu0[i]) * (1e6 / H.CLK_TCK)) / Math.max(1, runs[i].requests),
            );
            if (!opts.sameProcesses) await stop();
            const rps = runs.map((w) => w.requests / opts.duration);
            const errors = runs.map((w) => w.status + w.connect + w.read + w.write + w.timeout);
            ratios.push(rps[0] / rps[1]);
            cpuRatios.push(cpu[1] / cpu[0]);
            results.rounds.push({ app: def.name, baseline: base.name, variant, round, rps, mainCpuUsPerRequest: cpu, errors });
            H.log(
              `  ${variant.padEnd(5)} round ${round}: ${def.name} ${rps[0].toFixed(0)} req/s ${cpu[0].toFixed(0)} µs/req | ` +
                `${base.name} ${rps[1].toFixed(0)} req/s ${cpu[1].toFixed(0)} µs/req | × ${(rps[0] / rps[1]).toFixed(2)}, CPU × ${(cpu[1] / cpu[0]).toFixed(2)}` +
                (errors[0] + errors[1] > 0 ? `  ERRORS ${errors.join('/')}` : ''),
            );
          }
        } finally {
          await stop();
        }
        summary.push({
          app: def.name,
          baseline: base.name,
          variant,
          ratio: H.median(ratios),
          min: Math.min(...ratios),
          max: Math.max(...ratios),
          cpuRatio: H.median(cpuRatios),
          cpuMin: Math.min(...cpuRatios),
          cpuMax: Math.max(...cpuRatios),
        });
      }
    }
  } finally {
    await H.stopAll();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  console.log(`\n${results.date} — node bench/pair.js ${process.argv.slice(2).join(' ')}`);
  console.log(
    `source: commit ${results.source.commit}, ${opts.rounds} rounds of ${opts.duration} s, both apps under load at once (wrk -c${opts.connections} each), ${opts.sameProcesses ? 'the same processes for all rounds' : `fresh processes and ${opts.warmup} s of warm-up every round`}\n`,
  );
  console.log('| app | ÷ baseline | variant | req/s ratio, median (min–max) | main-thread CPU per request, baseline ÷ app (min–max) |');
  console.log('| --- | --- | --- | ---: | ---: |');
  for (const s of summary) {
    console.log(
      `| ${s.app} | ${s.baseline} | ${s.variant} | ${s.ratio.toFixed(2)} (${s.min.toFixed(2)}–${s.max.toFixed(2)}) | ${s.cpuRatio.toFixed(2)} (${s.cpuMin.toFixed(2)}–${s.cpuMax.toFixed(2)}) |`,
    );
  }
  results.summary = summary;
  if (opts.json) fs.writeFileSync(opts.json, `${JSON.stringify(results, null, 2)}\n`);
  const failed = results.rounds.filter((r) => r.errors[0] + r.errors[1] > 0);
  if (failed.length > 0) {
    console.error(`pair: ${failed.length} round(s) with non-2xx replies, socket errors or timeouts (see the log above)`);
    process.exitCode = 1;
  }
}

main().catch(async (err) => {
  console.error(`pair: ${err.stack || err.message}`);
  await H.stopAll();
  process.exitCode = 2;
});
