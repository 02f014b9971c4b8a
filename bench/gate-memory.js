#!/usr/bin/env node
// What the request gate costs in memory (issue 15): the accept loop (apps/sync.js) and the concurrent server
// (apps/server.js), each in its own process on a unix socket, hold 10,000 connections that each sent half a
// request (BEGIN_REQUEST and half of a 1 KiB PARAMS record). Reads the app's VmRSS/VmHWM idle, with them held,
// and after they are closed; times fresh requests while they are held; with the default maxBufferedBytes and
// with one smaller than the 10,000 half-requests together (the cap drops the oldest, holding RSS).
//
//   node bench/gate-memory.js [--connections 10000] [--cap BYTES] [--apps sync,server] [--json FILE]
//
// Needs the package built. Raises the soft RLIMIT_NOFILE (up to the hard one) for itself and the apps.
'use strict';

const fs = require('fs');
const net = require('net');
const os = require('os');
const { spawnSync } = require('child_process');
const H = require('./harness');
const { encodeBeginRequest, encodeHeader, encodeParams, encodeRecord, fcgiRequest, RecordType } = require('../dist/client');

const DEFAULT_CAP_LABEL = 'default (64 MiB)';

function parseArgs(argv) {
  const opts = { connections: 10000, cap: 4 << 20, apps: ['sync', 'server'], json: undefined };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--connections') opts.connections = Number(next());
    else if (a === '--cap') opts.cap = Number(next());
    else if (a === '--apps') opts.apps = next().split(',');
    else if (a === '--json') opts.json = next();
    else if (a === '--help') {
      process.stdout.write(fs.readFileSync(__filename, 'utf8').split('\n').slice(1, 10).join('\n') + '\n');
      process.exit(0);
    } else throw new Error(`unknown argument ${a}`);
  }
  if (!Number.isInteger(opts.connections) || opts.connections < 1) throw new Error('--connections: a positive integer');
  if (!Number.isInteger(opts.cap) || opts.cap < 1 << 20) throw new Error('--cap: an integer >= 1048576');
  for (const app of opts.apps) if (app !== 'sync' && app !== 'server') throw new Error(`--apps: sync or server, not ${app}`);
  return opts;
}

/** The soft and hard RLIMIT_NOFILE of this process, from /proc/self/limits. */
function fileLimits() {
  const line = /^Max open files\s+(\S+)\s+(\S+)/m.exec(fs.readFileSync('/proc/self/limits', 'utf8'));
  const n = (v) => (v === 'unlimited' ? Infinity : Number(v));
  return { soft: n(line[1]), hard: n(line[2]) };
}

/** BEGIN_REQUEST and the first half of one PARAMS record of 1 KiB (the record's header announces all of it). */
function halfRequest() {
  const params = encodeParams({ REQUEST_METHOD: 'GET', REQUEST_URI: '/half/hello', X_PAD: 'p'.repeat(1024 - 48) });
  const record = Buffer.concat([encodeHeader(RecordType.PARAMS, 1, params.length), params]);
  return Buffer.concat([
    encodeRecord(RecordType.BEGIN_REQUEST, 1, encodeBeginRequest(1, false)),
    record.subarray(0, 8 + params.length / 2),
  ]);
}

async function stats(sock) {
  const res = await fcgiRequest({ path: sock, timeout: 10000 }, { params: { REQUEST_METHOD: 'GET', REQUEST_URI: '/gate/stats' } });
  return JSON.parse(res.body.toString());
}

/** Milliseconds of one fresh request (new connection, params, empty body) until its whole response came. */
async function freshMs(sock) {
  const t0 = process.hrtime.bigint();
  const res = await fcgiRequest({ path: sock, timeout: 10000 }, { params: { REQUEST_METHOD: 'GET', REQUEST_URI: '/fresh/hello' } });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (res.body.toString() !== 'Hello, world!') throw new Error(`fresh request: unexpected body ${JSON.stringify(res.body.toString())}`);
  return ms;
}

/** One connection that writes `bytes` once connected; retried while the listen backlog is full (EAGAIN). */
function openHalf(sock, bytes, tries = 100) {
  return new Promise((resolve, reject) => {
    const s = net.connect(sock);
    const c = { socket: s, closed: false, connected: false };
    s.on('close', () => (c.closed = true));
    s.on('error', (err) => {
      if (c.connected) return; // closed by the app (the cap): counted through `closed`
      if (err.code === 'EAGAIN' && tries > 1) {
        setTimeout(() => openHalf(sock, bytes, tries - 1).then(resolve, reject), 10);
      } else {
        reject(err);
      }
    });
    s.once('connect', () => {
      c.connected = true;
      s.write(bytes, () => resolve(c));
    });
  });
}

/** Opens n connections (batch at a time), each writing `bytes` on connect; resolves when every write is flushed. */
async function openHalves(sock, n, bytes, batch = 200) {
  const conns = [];
  for (let i = 0; i < n; i += batch) {
    const round = [];
    for (let j = i; j < Math.min(n, i + batch); j++) round.push(openHalf(sock, bytes));
    conns.push(...(await Promise.all(round)));
  }
  return conns;
}

/** Polls stats until `done(stats)` (the app's view has caught up with what the client did), bounded. */
async function waitStats(sock, done, what, timeoutMs = 60000) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    last = await stats(sock);
    if (done(last)) return last;
    if (Date.now() > deadline) throw new Error(`${what}: not reached in ${timeoutMs} ms (last stats ${JSON.stringify(last)})`);
    await H.sleep(100);
  }
}

const mib = (kib) => (kib / 1024).toFixed(1);

async function measure(app, cap, opts, dir, fdLimit) {
  const env = { LIBFCGI_BENCH_MAX_CONNECTIONS: String(opts.connections + 1000), LIBFCGI_BENCH_CONCURRENCY: '64' };
  if (cap !== undefined) env.LIBFCGI_BENCH_MAX_BUFFERED_BYTES = String(cap);
  // The app's own soft RLIMIT_NOFILE: one descriptor per connection held, and some.
  const wrap = ['sh', '-c', `ulimit -n ${fdLimit} && exec "$0" "$@"`];
  const def = H.APP_DEFS.find((d) => d.name === app);
  const { handle, socket: sock } = await H.startApp(def, { dir, env, wrap });
  try {
    for (let i = 0; i < 20; i++) await freshMs(sock); // warm: compiled, first allocations done
    const idle = H.memoryKiB([handle.pid]);
    const before = await stats(sock);

    const conns = await openHalves(sock, opts.connections, halfRequest());
    // Every connection accepted and read (held, or closed by the cap), and the gate's total settled.
    let prev = -1;
    const held = await waitStats(
      sock,
      (s) => {
        const settled = s.connectionsIdle + s.refusedByLimits - before.refusedByLimits >= opts.connections && s.gateBufferedBytes === prev;
        prev = s.gateBufferedBytes;
        return settled;
      },
      'the half-requests held',
    );
    const heldMem = H.memoryKiB([handle.pid]);
    const times = [];
    for (let i = 0; i < 10; i++) times.push(await freshMs(sock));
    const open = conns.filter((c) => !c.closed).length;

    for (const c of conns) c.socket.destroy();
    const after = await waitStats(sock, (s) => s.gateBufferedBytes === 0 && s.connectionsIdle === 0, 'the half-requests gone');
    const afterMem = H.memoryKiB([handle.pid]);
    return {
      app,
      cap: cap ?? DEFAULT_CAP_LABEL,
      connections: opts.connections,
      open,
      refused: held.refusedByLimits - before.refusedByLimits,
      gateBufferedBytes: held.gateBufferedBytes,
      gateAfter: after.gateBufferedBytes,
      rssIdleKiB: idle.rss,
      rssHeldKiB: heldMem.rss,
      hwmKiB: afterMem.hwm,
      rssAfterKiB: afterMem.rss,
      freshMedianMs: H.median(times),
      freshMaxMs: Math.max(...times),
    };
  } finally {
    await H.stopProcess(handle);
  }
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const need = opts.connections + 1000;
  const { soft, hard } = fileLimits();
  if (soft < need) {
    if (hard < need || process.env.LIBFCGI_GATE_MEMORY_RAISED) {
      throw new Error(`needs ${need} file descriptors; RLIMIT_NOFILE hard limit is ${hard} (fewer --connections?)`);
    }
    // Again, with the soft limit raised to the hard one (the client side holds one descriptor per connection).
    const r = spawnSync(
      'sh',
      ['-c', `ulimit -n ${hard === Infinity ? need : hard} && exec "$0" "$@"`, process.execPath, __filename, ...process.argv.slice(2)],
      {
        stdio: 'inherit',
        env: { ...process.env, LIBFCGI_GATE_MEMORY_RAISED: '1' },
      },
    );
    process.exit(r.status ?? 1);
  }
  const fdLimit = Math.min(hard, Math.max(need, 30000));
  const dir = H.makeTempDir('libfcgi-gate-memory-');
  process.on('exit', H.killAllSync);
  const rows = [];
  try {
    for (const app of opts.apps) {
      for (const cap of [undefined, opts.cap]) {
        H.log(`${app}, maxBufferedBytes ${cap ?? DEFAULT_CAP_LABEL}: ${opts.connections} half-requests...`);
        rows.push(await measure(app, cap, opts, dir, fdLimit));
      }
    }
  } finally {
    await H.stopAll();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const half = halfRequest().length;
  console.log(`# ${new Date().toISOString()}  ${os.hostname()}  node ${process.version}  load ${os.loadavg()[0].toFixed(2)}`);
  console.log(`# ${opts.connections} connections, each sent ${half} bytes (BEGIN_REQUEST + half of a 1 KiB PARAMS record)`);
  console.log(
    '| app | maxBufferedBytes | still open | closed by the cap | gateBufferedBytes | RSS idle MiB | RSS held MiB | RSS after MiB | VmHWM MiB | fresh request ms (median / max of 10) |',
  );
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const r of rows) {
    console.log(
      `| ${r.app} | ${r.cap} | ${r.open} | ${r.refused} | ${r.gateBufferedBytes} | ${mib(r.rssIdleKiB)} | ${mib(r.rssHeldKiB)} | ${mib(r.rssAfterKiB)} | ${mib(r.hwmKiB)} | ${r.freshMedianMs.toFixed(2)} / ${r.freshMaxMs.toFixed(2)} |`,
    );
  }
  const slow = rows.filter((r) => r.freshMaxMs >= 100);
  if (opts.json) fs.writeFileSync(opts.json, JSON.stringify(rows, null, 2));
  if (slow.length > 0) {
    console.error(`a fresh request took >= 100 ms while the half-requests were held: ${slow.map((r) => `${r.app} ${r.cap}`).join(', ')}`);
    process.exitCode = 1;
  }
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  H.killAllSync();
  process.exit(1);
});
