#!/usr/bin/env node
// A/B of two builds of the package: the same app (apps/server.js or apps/server-readme.js) on this checkout's
// build and on another one (LIBFCGI_BENCH_PACKAGE), measured in turns through the same nginx and wrk as
// run.js: req/s and app CPU µs per request, medians of per-round ratios (B ÷ A). What a change is worth is
// measured this way: two runs of run.js apart in time differ by more than most changes do.
// Usage: node bench/ab.js --package DIR [--apps server-readme] [--variants hello] [--modes kept]
//                         [--rounds 5] [--duration 4] [--json FILE]
// DIR is a package directory with dist/ and build/ (e.g. a copy of an older commit's build).
'use strict';

const fs = require('fs');
const path = require('path');
const H = require('./harness');

function parseArgs(argv) {
  const o = { pkg: undefined, apps: ['server-readme'], variants: ['hello'], modes: ['kept'], rounds: 5, duration: 4, json: undefined };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = () => argv[++i];
    if (a === '--package') o.pkg = path.resolve(v());
    else if (a === '--apps') o.apps = v().split(',');
    else if (a === '--variants') o.variants = v().split(',');
    else if (a === '--modes') o.modes = v().split(',');
    else if (a === '--rounds') o.rounds = Number(v());
    else if (a === '--duration') o.duration = Number(v());
    else if (a === '--json') o.json = v();
    else throw new Error(`unknown argument ${a} (see the head of bench/ab.js)`);
  }
  if (!o.pkg || !fs.existsSync(path.join(o.pkg, 'dist/index.js'))) throw new Error('--package DIR: a package directory with dist/index.js');
  for (const app of o.apps) if (!['server', 'server-readme'].includes(app)) throw new Error(`--apps: server or server-readme, not ${app}`);
  return o;
}

let tempDir;
process.on('exit', () => {
  H.killAllSync();
  if (tempDir) fs.rmSync(tempDir, { recursive: true, force: true });
});
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => H.stopAll().finally(() => process.exit(130)));

async function one(ctx, def, build, mode, variant, durationS) {
  const env = { LIBFCGI_BENCH_CONCURRENCY: '64', ...(build === 'B' ? { LIBFCGI_BENCH_PACKAGE: ctx.pkg } : {}) };
  const app = await H.startApp(def, { ...ctx, env });
  const nginx = await H.startNginx({ ...ctx, apps: [def], keepalive: 32, nginxBin: ctx.tools.nginx });
  try {
    const f = await H.checkReply(ctx.port, def.name, mode, variant);
    if (f) throw new Error(`${build}: ${f}`);
    // A short warm-up so both builds are measured optimised.
    await H.runWrk({
      wrkBin: ctx.tools.wrk,
      scripts: ctx.scripts,
      port: ctx.port,
      app: def.name,
      mode,
      variant,
      connections: 16,
      durationS: 1,
    });
    const c0 = H.cpuTicks(app.pids());
    const w = await H.runWrk({
      wrkBin: ctx.tools.wrk,
      scripts: ctx.scripts,
      port: ctx.port,
      app: def.name,
      mode,
      variant,
      connections: 16,
      durationS,
    });
    const c1 = H.cpuTicks(app.pids());
    return {
      rps: w.requests / (w.duration_us / 1e6),
      appCpuUs: ((c1 - c0) * (1e6 / H.CLK_TCK)) / w.requests,
      errors: w.status + w.connect + w.read + w.write + w.timeout,
    };
  } finally {
    await H.stopProcess(nginx.handle);
    await H.stopProcess(app.handle);
  }
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const tools = H.ensureTools(['nginx', 'wrk']);
  tempDir = H.makeTempDir('libfcgi-ab-');
  const ctx = { dir: tempDir, tools, port: await H.freePort(), pkg: opts.pkg };
  ctx.scripts = H.writeWrkScripts(tempDir);
  const load0 = require('os').loadavg();
  const out = [];
  for (const name of opts.apps) {
    const def = H.APP_DEFS.find((d) => d.name === name);
    for (const variant of opts.variants) {
      for (const mode of opts.modes) {
        const rounds = [];
        for (let r = 1; r <= opts.rounds; r++) {
          // Alternate which build goes first.
          const order = r % 2 ? ['A', 'B'] : ['B', 'A'];
          const res = {};
          for (const build of order) res[build] = await one(ctx, def, build, mode, variant, opts.duration);
          rounds.push(res);
          H.log(
            `  ${name} ${mode} ${variant} round ${r}: A ${res.A.rps.toFixed(0)} req/s ${res.A.appCpuUs.toFixed(1)} µs/req, B ${res.B.rps.toFixed(0)} req/s ${res.B.appCpuUs.toFixed(1)} µs/req`,
          );
        }
        const med = (f) => H.median(rounds.map(f));
        out.push({
          app: name,
          mode,
          variant,
          rpsA: med((x) => x.A.rps),
          rpsB: med((x) => x.B.rps),
          cpuA: med((x) => x.A.appCpuUs),
          cpuB: med((x) => x.B.appCpuUs),
          rpsRatioBA: med((x) => x.B.rps / x.A.rps),
          cpuRatioBA: med((x) => x.B.appCpuUs / x.A.appCpuUs),
          errors: rounds.reduce((s, x) => s + x.A.errors + x.B.errors, 0),
          rounds,
        });
      }
    }
  }
  await H.stopAll();
  const load1 = require('os').loadavg();
  console.log(`A: this checkout (${H.sourceInfo().commit}); B: ${opts.pkg}; ${opts.rounds} rounds × ${opts.duration} s, wrk -t1 -c16`);
  console.log('| app | mode | variant | A req/s | B req/s | B÷A req/s | A app µs/req | B app µs/req | B÷A µs/req | errors |');
  console.log('| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const x of out) {
    console.log(
      `| ${x.app} | ${x.mode} | ${x.variant} | ${x.rpsA.toFixed(0)} | ${x.rpsB.toFixed(0)} | ${x.rpsRatioBA.toFixed(2)} | ${x.cpuA.toFixed(1)} | ${x.cpuB.toFixed(1)} | ${x.cpuRatioBA.toFixed(2)} | ${x.errors} |`,
    );
  }
  console.log(`load average before ${load0.map((l) => l.toFixed(2)).join(' ')}, after ${load1.map((l) => l.toFixed(2)).join(' ')}`);
  if (opts.json)
    fs.writeFileSync(
      opts.json,
      `${JSON.stringify({ date: new Date().toISOString(), options: opts, loadAverage: { before: load0, after: load1 }, results: out }, null, 2)}\n`,
    );
}

main().catch(async (err) => {
  console.error(`ab: ${err.stack || err.message}`);
  await H.stopAll();
  process.exitCode = 2;
});
