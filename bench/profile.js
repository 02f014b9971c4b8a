#!/usr/bin/env node
// Where time goes: syscalls per request (strace), CPU samples (perf), JS self time (--cpu-prof) and
// instructions (callgrind) for the C loop, the sync loop and the concurrent server behind nginx.
'use strict';

const { execFileSync } = require('child_process');
const fs = require('fs');
const path = require('path');
const H = require('./harness');

const USAGE = `usage: node bench/profile.js [options]
  --apps a,b        default c,sync,server
  --variants a,b    default hello,echo,big
  --modes a,b       default new,kept
  --duration S      seconds of load per measurement (default 3)
  --tools a,b       of strace,perf,cpu-prof,callgrind (default strace,perf,cpu-prof); callgrind runs one
                    mode and variant per app: the only one given, else new and hello
  --json FILE       default bench/results/profile.json
  --keep-tmp        keep the temp dir (raw strace output, perf data, .cpuprofile files)
environment: LIBFCGI_BENCH_VALGRIND_ARGS, more options for callgrind (e.g. --cache-sim=yes: cache misses per
                    request next to the instructions)`;

function parseArgs(argv) {
  const o = {
    apps: ['c', 'sync', 'server'],
    variants: ['hello', 'echo', 'big'],
    modes: ['new', 'kept'],
    duration: 3,
    tools: ['strace', 'perf', 'cpu-prof'],
    json: path.join(__dirname, 'results', 'profile.json'),
    keepTmp: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = () => argv[++i];
    if (a === '--apps') o.apps = v().split(',');
    else if (a === '--variants') o.variants = v().split(',');
    else if (a === '--modes') o.modes = v().split(',');
    else if (a === '--duration') o.duration = Number(v());
    else if (a === '--tools') o.tools = v().split(',');
    else if (a === '--json') o.json = v();
    else if (a === '--keep-tmp') o.keepTmp = true;
    else {
      process.stdout.write(`${USAGE}\n`);
      process.exit(a === '--help' || a === '-h' ? 0 : 2);
    }
  }
  return o;
}

let tempDir;
let keepTmp = false;
process.on('exit', () => {
  H.killAllSync();
  if (tempDir && !keepTmp) fs.rmSync(tempDir, { recursive: true, force: true });
});
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => H.stopAll().finally(() => process.exit(130)));
}

/** Thread ids of a process, with their names (comm). */
function threads(pid) {
  const out = {};
  for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
    try {
      out[tid] = fs.readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim();
    } catch {
      // gone
    }
  }
  return out;
}

/**
 * Parses `strace -f -o FILE` output into calls per thread per syscall. A call split by another thread's
 * line ("<unfinished ...>" then "<... x resumed>") is counted once, at its start.
 */
function parseStrace(text) {
  const perTid = {};
  for (const line of text.split('\n')) {
    const m = /^(\d+)\s+([a-z_0-9]+)\(/.exec(line);
    if (!m) continue;
    const t = (perTid[m[1]] ??= {});
    t[m[2]] = (t[m[2]] || 0) + 1;
  }
  return perTid;
}

async function withNginx(ctx, fn) {
  const nginx = await H.startNginx({ ...ctx, apps: ctx.defs, keepalive: 32, nginxBin: ctx.tools.nginx });
  try {
    return await fn(nginx);
  } finally {
    await H.stopProcess(nginx.handle);
  }
}

async function load(ctx, app, mode, variant, durationS, connections = 16) {
  for (let i = 0; i < 3; i++) {
    const f = await H.checkReply(ctx.port, app, mode, variant);
    if (f) throw new Error(f);
  }
  return H.runWrk({ wrkBin: ctx.tools.wrk, scripts: ctx.scripts, port: ctx.port, app, mode, variant, connections, durationS });
}

/** Syscalls per request, split into the JS/main thread and the others (fcgi worker threads, libuv, V8). */
async function straceRun(ctx, app, mode, variant, durationS) {
  const pid = app.handle.pid;
  const out = path.join(ctx.dir, `strace-${app.def.name}-${mode}-${variant}.txt`);
  return withNginx(ctx, async () => {
    const names = threads(pid);
    const tracer = H.startProcess(ctx.tools.strace, ['-f', '-qq', '-s', '0', '-e', 'signal=none', '-o', out, '-p', String(pid)], {
      logFile: path.join(ctx.dir, 'strace.log'),
    });
    await H.sleep(500); // attached to every thread
    const w = await load(ctx, app.def.name, mode, variant, durationS);
    await H.stopProcess(tracer, { signal: 'SIGINT' });
    const perTid = parseStrace(fs.readFileSync(out, 'utf8'));
    const main = {};
    const other = {};
    const byThreadName = {};
    for (const [tid, calls] of Object.entries(perTid)) {
      const target = Number(tid) === pid ? main : other;
      const tname = Number(tid) === pid ? 'main' : names[tid] || 'new thread';
      const bucket = (byThreadName[tname] ??= {});
      for (const [sc, n] of Object.entries(calls)) {
        target[sc] = (target[sc] || 0) + n;
        bucket[sc] = (bucket[sc] || 0) + n;
      }
    }
    const perReq = (o) =>
      Object.fromEntries(
        Object.entries(o)
          .map(([k, v]) => [k, Math.round((v / w.requests) * 100) / 100])
          .filter(([, v]) => v >= 0.01)
          .sort((a, b) => b[1] - a[1]),
      );
    const total = (o) => Math.round((Object.values(o).reduce((a, b) => a + b, 0) / w.requests) * 100) / 100;
    if (!ctx.keepRaw) fs.rmSync(out, { force: true });
    return {
      app: app.def.name,
      mode,
      variant,
      requests: w.requests,
      syscallsPerRequest: total({ ...sumObj(main, other) }),
      mainThread: { total: total(main), calls: perReq(main) },
      otherThreads: { total: total(other), calls: perReq(other) },
      byThreadName: Object.fromEntries(Object.entries(byThreadName).map(([k, v]) => [k, total(v)])),
    };
  });
}

function sumObj(a, b) {
  const out = { ...a };
  for (const [k, v] of Object.entries(b)) out[k] = (out[k] || 0) + v;
  return out;
}

/** Context switches (voluntary, involuntary) summed over the threads of a process, from /proc. */
function contextSwitches(pid) {
  let voluntary = 0;
  let involuntary = 0;
  let tasks = [];
  try {
    tasks = fs.readdirSync(`/proc/${pid}/task`);
  } catch {
    return { voluntary, involuntary };
  }
  for (const t of tasks) {
    let st = '';
    try {
      st = fs.readFileSync(`/proc/${pid}/task/${t}/status`, 'utf8');
    } catch {
      continue; // the thread ended meanwhile
    }
    voluntary += Number(/voluntary_ctxt_switches:\s+(\d+)/.exec(st)?.[1] ?? 0);
    involuntary += Number(/nonvoluntary_ctxt_switches:\s+(\d+)/.exec(st)?.[1] ?? 0);
  }
  return { voluntary, involuntary };
}

/** perf record (cpu-clock: this VM has no hardware counters) on the app while wrk runs; share by DSO and symbol. */
async function perfRun(ctx, app, mode, variant, durationS) {
  const pid = app.handle.pid;
  const data = path.join(ctx.dir, `perf-${app.def.name}-${mode}-${variant}.data`);
  return withNginx(ctx, async () => {
    const rec = H.startProcess(
      ctx.tools.perf,
      ['record', '-e', 'cpu-clock', '-F', '4999', '-g', '-p', String(pid), '-o', data, '--', 'sleep', String(durationS + 1)],
      { logFile: path.join(ctx.dir, 'perf.log') },
    );
    await H.sleep(300);
    const cs0 = contextSwitches(pid);
    const w = await load(ctx, app.def.name, mode, variant, durationS);
    const cs1 = contextSwitches(pid);
    await rec.exitPromise;
    H.stopProcess(rec);
    const report = (sort) =>
      execFileSync(
        ctx.tools.perf,
        ['report', '-i', data, '--no-children', '--sort', sort, '--stdio', '--percent-limit', '1.5', '-g', 'none'],
        {
          encoding: 'utf8',
          stdio: ['ignore', 'pipe', 'ignore'],
          maxBuffer: 64 << 20,
        },
      )
        .split('\n')
        .filter((l) => /^\s+\d/.test(l))
        .map((l) => l.trim().replace(/\s+/g, ' '));
    const perReq = (n) => Math.round((n / Math.max(1, w.requests)) * 100) / 100;
    const contextSwitchesPerRequest = {
      voluntary: perReq(cs1.voluntary - cs0.voluntary),
      involuntary: perReq(cs1.involuntary - cs0.involuntary),
    };
    const result = {
      app: app.def.name,
      mode,
      variant,
      requests: w.requests,
      contextSwitchesPerRequest,
      byDso: report('dso'),
      bySymbol: report('dso,sym'),
    };
    if (!ctx.keepRaw) fs.rmSync(data, { force: true });
    return result;
  });
}

/** Self time by JS function from a .cpuprofile (V8 sampling profiler). */
function summarizeCpuProfile(file, top = 18) {
  const prof = JSON.parse(fs.readFileSync(file, 'utf8'));
  const self = new Map();
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const deltas = prof.timeDeltas;
  let total = 0;
  for (let i = 0; i < prof.samples.length; i++) {
    const n = byId.get(prof.samples[i]);
    const dt = deltas[i + 1] ?? 0;
    const cf = n.callFrame;
    const where = cf.url ? `${path.relative(H.ROOT, cf.url.replace(/^file:\/\//, ''))}:${cf.lineNumber + 1}` : '';
    const key = `${cf.functionName || '(anonymous)'} ${where}`.trim();
    self.set(key, (self.get(key) || 0) + dt);
    total += dt;
  }
  const busy = total - (self.get('(idle)') || 0);
  return {
    totalMs: Math.round(total / 1000),
    busyMs: Math.round(busy / 1000),
    top: [...self.entries()]
      .filter(([k]) => k !== '(idle)')
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([k, us]) => ({ fn: k, ms: Math.round(us / 100) / 10, pctOfBusy: Math.round((us / busy) * 1000) / 10 })),
  };
}

const NODE_APPS = new Set([
  'sync',
  'server',
  'server-readme',
  'node-http',
  'listener',
  'express',
  'express-http',
  'hono',
  'hono-node',
  'node-fastcgi',
]);

async function cpuProfRun(ctx, def, mode, variant, durationS) {
  const profDir = path.join(ctx.dir, `cpuprof-${def.name}-${mode}-${variant}`);
  fs.mkdirSync(profDir, { recursive: true });
  const app = await H.startApp(def, {
    ...ctx,
    nodeArgs: ['--cpu-prof', '--cpu-prof-dir', profDir],
    env: { LIBFCGI_BENCH_CONCURRENCY: '64' },
  });
  let w;
  try {
    w = await withNginx(ctx, () => load(ctx, def.name, mode, variant, durationS));
  } finally {
    await H.stopProcess(app.handle, { graceMs: 10_000 }); // SIGTERM: both apps end cleanly and write the profile
  }
  const file = fs.readdirSync(profDir).find((f) => f.endsWith('.cpuprofile'));
  if (!file) throw new Error(`${def.name}: no .cpuprofile written`);
  return { app: def.name, mode, variant, requests: w.requests, ...summarizeCpuProfile(path.join(profDir, file)) };
}

/** The apps that serve one request at a time (callgrind drives them with one connection). */
const SERIAL_APPS = new Set(['c', 'sync']);

/**
 * Instructions per request (callgrind) of an app; slow, so few requests. The C loop and the sync loop: one
 * connection, after 20 requests; the others (the concurrent server, Node http): 16 connections, after 20 s of
 * load (V8's compiled code).
 */
async function callgrindRun(ctx, def, mode, variant, durationS) {
  const out = path.join(ctx.dir, `callgrind-${def.name}-${mode}-${variant}.out`);
  // --smc-check: V8 writes and runs machine code (JIT); node under valgrind starts slowly.
  const wrap = [
    ctx.tools.valgrind,
    '--tool=callgrind',
    `--callgrind-out-file=${out}`,
    '--dump-instr=no',
    '--smc-check=all-non-file',
    '--instr-atstart=no',
    ...(process.env.LIBFCGI_BENCH_VALGRIND_ARGS || '').split(' ').filter(Boolean),
  ];
  const app = await H.startApp(def, { ...ctx, wrap, readyTimeoutMs: 300_000 });
  let w;
  try {
    w = await withNginx(ctx, async () => {
      for (let i = 0; i < 20; i++) {
        const f = await H.checkReply(ctx.port, def.name, mode, variant); // warm up under valgrind
        if (f) throw new Error(f);
      }
      // The concurrent server and the other Node apps: 20 s of load first, so V8 has compiled the hot path.
      if (!SERIAL_APPS.has(def.name)) await load(ctx, def.name, mode, variant, 20);
      // Count from here on: start-up and warm-up are not per-request costs.
      execFileSync('callgrind_control', ['-i', 'on', String(app.handle.pid)], { stdio: 'ignore', timeout: 60_000 });
      return H.runWrk({
        wrkBin: ctx.tools.wrk,
        scripts: ctx.scripts,
        port: ctx.port,
        app: def.name,
        mode,
        variant,
        connections: SERIAL_APPS.has(def.name) ? 1 : 16,
        durationS,
      });
    });
  } finally {
    await H.stopProcess(app.handle, { graceMs: 30_000 });
  }
  const text = execFileSync(
    'callgrind_annotate',
    [
      '--inclusive=no',
      ...fs
        .readdirSync(ctx.dir)
        .filter((f) => f.startsWith(path.basename(out)))
        .map((f) => path.join(ctx.dir, f)),
    ],
    { encoding: 'utf8', maxBuffer: 64 << 20 },
  );
  const totalIr = Number(
    (/([\d,]+)\s+\(100\.0%\)\s+PROGRAM TOTALS/.exec(text) || /([\d,]+)\s+PROGRAM TOTALS/.exec(text) || [0, '0'])[1].replace(/,/g, ''),
  );
  const top = text
    .split('\n')
    .filter((l) => /^\s*[\d,]+\s+\(\s*[\d.]+%\)\s+\S/.test(l))
    .slice(0, 20)
    .map((l) => l.trim().replace(/\s+/g, ' '));
  return { app: def.name, mode, variant, requests: w.requests, totalIr, top };
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  keepTmp = opts.keepTmp;
  const wanted = ['nginx', 'wrk', 'cc'];
  if (opts.tools.includes('strace')) wanted.push('strace');
  if (opts.tools.includes('perf')) wanted.push('perf');
  if (opts.tools.includes('callgrind')) wanted.push('valgrind');
  const tools = H.ensureTools(wanted);
  for (const t of wanted) if (!tools[t]) throw new Error(`${t} is missing`);
  tempDir = H.makeTempDir('libfcgi-profile-');
  const defs = H.APP_DEFS.filter((d) => opts.apps.includes(d.name));
  const ctx = { dir: tempDir, tools, defs, port: await H.freePort(), keepRaw: opts.keepTmp };
  ctx.cBinary = H.buildC(tempDir, tools.cc);
  ctx.scripts = H.writeWrkScripts(tempDir);
  const results = {
    date: new Date().toISOString(),
    machine: H.machineInfo(tools),
    source: H.sourceInfo(),
    options: opts,
    strace: [],
    perf: [],
    cpuProf: [],
    callgrind: [],
  };

  if (opts.tools.includes('strace') || opts.tools.includes('perf')) {
    for (const def of defs) {
      const app = await H.startApp(def, { ...ctx, env: { LIBFCGI_BENCH_CONCURRENCY: '64' } });
      try {
        for (const variant of opts.variants) {
          for (const mode of opts.modes) {
            if (opts.tools.includes('strace')) {
              const r = await straceRun(ctx, app, mode, variant, opts.duration);
              results.strace.push(r);
              H.log(
                `strace ${def.name} ${mode} ${variant}: ${r.syscallsPerRequest}/req main ${JSON.stringify(r.mainThread.calls)} other ${JSON.stringify(r.otherThreads.calls)}`,
              );
            }
          }
        }
        if (opts.tools.includes('perf')) {
          for (const variant of opts.variants) {
            for (const mode of opts.modes) {
              const r = await perfRun(ctx, app, mode, variant, opts.duration);
              results.perf.push(r);
              H.log(
                `perf ${def.name} ${mode} ${variant}: context switches/req ${JSON.stringify(r.contextSwitchesPerRequest)}\n  ${r.byDso.join('\n  ')}`,
              );
            }
          }
        }
      } finally {
        await H.stopProcess(app.handle);
      }
    }
  }
  if (opts.tools.includes('cpu-prof')) {
    // Every app that runs in Node (the C loop, PHP-FPM and Go have no V8 profile).
    for (const def of defs.filter((d) => NODE_APPS.has(d.name))) {
      for (const variant of opts.variants) {
        for (const mode of opts.modes) {
          const r = await cpuProfRun(ctx, def, mode, variant, opts.duration);
          results.cpuProf.push(r);
          H.log(
            `cpu-prof ${def.name} ${mode} ${variant}: busy ${r.busyMs}/${r.totalMs} ms\n  ${r.top.map((t) => `${t.pctOfBusy}% ${t.fn}`).join('\n  ')}`,
          );
        }
      }
    }
  }
  if (opts.tools.includes('callgrind')) {
    // One mode and variant per app: the one asked for (--modes kept --variants hello), else new and hello.
    const mode = opts.modes.length === 1 ? opts.modes[0] : 'new';
    const variant = opts.variants.length === 1 ? opts.variants[0] : 'hello';
    for (const def of defs.filter((d) => d.name === 'c' || NODE_APPS.has(d.name))) {
      const r = await callgrindRun(ctx, def, mode, variant, opts.duration);
      results.callgrind.push(r);
      H.log(`callgrind ${def.name}: ${Math.round(r.totalIr / r.requests)} Ir/request (${r.requests} requests)\n  ${r.top.join('\n  ')}`);
    }
  }
  fs.mkdirSync(path.dirname(opts.json), { recursive: true });
  fs.writeFileSync(opts.json, `${JSON.stringify(results, null, 2)}\n`);
  await H.stopAll();
}

main().catch(async (err) => {
  console.error(`profile: ${err.stack || err.message}`);
  await H.stopAll();
  process.exitCode = 2;
});
