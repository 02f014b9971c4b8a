// What run.js and profile.js share: tools, the temp dir, the apps, nginx, reply checks, wrk, CPU and memory readings.
'use strict';

const { execFileSync, spawn, spawnSync } = require('child_process');
const fs = require('fs');
const http = require('http');
const net = require('net');
const os = require('os');
const path = require('path');

const ROOT = path.resolve(__dirname, '..');
const APPS_DIR = path.join(__dirname, 'apps');
const CLK_TCK = 100; // Linux USER_HZ for /proc/PID/stat; checked against getconf in machineInfo()

/** A 16 KiB JSON document (64 small objects, padded to exactly 16384 bytes) for the json variant. */
function jsonBody() {
  const items = [];
  for (let i = 0; i < 64; i++) items.push({ id: i, name: `item-${String(i).padStart(4, '0')}`, tags: ['a', 'b'], price: i * 1.5 });
  const bare = JSON.stringify({ items, pad: '' });
  return Buffer.from(JSON.stringify({ items, pad: 'p'.repeat(16384 - bare.length) }));
}

const VARIANTS = {
  hello: { method: 'GET', expectBody: Buffer.from('Hello, world!') },
  big: { method: 'GET', expectBody: Buffer.alloc(65536, 'x') },
  echo: { method: 'POST', body: Buffer.alloc(16384, 'a'), expectBody: Buffer.from('16384') },
  // The framework apps' POST: the app parses the JSON and answers JSON (issue 11's "16 KiB JSON POST").
  json: {
    method: 'POST',
    contentType: 'application/json',
    body: jsonBody(),
    expectBody: Buffer.from('{"received":64}'),
    expectType: 'application/json',
  },
};
/** The variants an app serves: its own list (framework apps), else these. */
const CORE_VARIANTS = ['hello', 'big', 'echo'];
const appVariants = (def) => def.variants || CORE_VARIANTS;
// kept: nginx keeps upstream connections with keepalive_requests unbounded; kept1k: at nginx's default (1000
// requests, then the connection is closed and a new one opened), as an upstream is usually configured.
const MODES = ['new', 'kept', 'kept1k'];
const isKept = (mode) => mode !== 'new';
/** keepalive_requests of the upstream pool in a kept mode. */
const KEEPALIVE_REQUESTS = { kept: 10000000, kept1k: 1000 };

// ---------- logging ----------

let quiet = false;
function setQuiet(q) {
  quiet = q;
}
function log(...args) {
  if (!quiet) process.stderr.write(`${args.join(' ')}\n`);
}

// ---------- tools ----------

const SEARCH_PATH = (process.env.PATH || '').split(':').concat(['/usr/sbin', '/usr/local/sbin', '/sbin']);

function findBinary(name) {
  for (const dir of SEARCH_PATH) {
    const candidate = path.join(dir, name);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** php-fpm is installed as php-fpmX.Y. */
function findPhpFpm() {
  for (const v of ['8.4', '8.3', '8.2', '8.1', '8.0', '7.4']) {
    const b = findBinary(`php-fpm${v}`);
    if (b) return b;
  }
  return findBinary('php-fpm');
}

const PACKAGES = {
  nginx: 'nginx-light',
  wrk: 'wrk',
  'php-fpm': 'php-fpm',
  cc: 'gcc',
  strace: 'strace',
  perf: 'linux-perf',
  valgrind: 'valgrind',
};

function lookup(tool) {
  if (tool === 'php-fpm') return findPhpFpm();
  if (tool === 'cc') return findBinary('cc') || findBinary('gcc');
  return findBinary(tool);
}

/**
 * Paths of the tools asked for; missing ones are installed with apt-get when we are root (one update, one
 * install, bounded in time). Returns { tool: path | undefined }.
 */
function ensureTools(tools) {
  const missing = tools.filter((t) => lookup(t) === undefined);
  if (missing.length > 0 && process.getuid && process.getuid() === 0 && findBinary('apt-get')) {
    const pkgs = [...new Set(missing.map((t) => PACKAGES[t]).filter(Boolean))];
    log(`bench: installing ${pkgs.join(' ')} with apt-get`);
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    try {
      execFileSync('apt-get', ['update', '-q'], { stdio: ['ignore', 'ignore', 'inherit'], env, timeout: 300_000 });
      execFileSync('apt-get', ['install', '-y', '-q', '--no-install-recommends', ...pkgs], {
        stdio: ['ignore', 'ignore', 'inherit'],
        env,
        timeout: 600_000,
      });
    } catch (err) {
      log(`bench: apt-get failed: ${err.message}`);
    }
  }
  const found = {};
  for (const t of tools) found[t] = lookup(t);
  return found;
}

function versionOf(cmd, args, pattern) {
  // Some tools print their version on stderr (nginx -v), some exit non-zero (wrk -v): read both streams.
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 10_000 });
  const text = `${r.stdout || ''}${r.stderr || ''}`;
  const m = pattern.exec(text);
  return m ? m[1] : text.trim().split('\n')[0] || undefined;
}

/** The machine line: cores, CPU model, kernel, versions of everything in the picture. */
function machineInfo(tools) {
  const cpuinfo = fs.readFileSync('/proc/cpuinfo', 'utf8');
  const model = /^model name\s*:\s*(.*)$/m.exec(cpuinfo);
  let clk = CLK_TCK;
  try {
    clk = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
  } catch {
    // keep the default
  }
  if (clk !== CLK_TCK) throw new Error(`CLK_TCK is ${clk}, not ${CLK_TCK}: adjust bench/harness.js`);
  return {
    nproc: os.cpus().length,
    cpu: model ? model[1].trim() : 'unknown',
    memGiB: Math.round(os.totalmem() / 2 ** 30),
    kernel: os.release(),
    node: process.version,
    nginx: tools.nginx ? versionOf(tools.nginx, ['-v'], /nginx\/(\S+)/) : undefined,
    wrk: tools.wrk ? versionOf(tools.wrk, ['-v'], /wrk (\S+)/) : undefined,
    php: tools['php-fpm'] ? versionOf(tools['php-fpm'], ['-v'], /PHP (\S+)/) : undefined,
    cc: tools.cc ? versionOf(tools.cc, ['--version'], /^(.*)$/m) : undefined,
    go: tools.go ? versionOf(tools.go, ['version'], /go version (\S+)/) : undefined,
    nodeFastcgi: nodeFastcgiVersion(),
  };
}

/** What was measured: the commit, uncommitted changes to the code, when the addon and dist/ were built. */
function sourceInfo() {
  const git = (args) => {
    const r = spawnSync('git', args, { cwd: ROOT, encoding: 'utf8', timeout: 10_000 });
    return r.status === 0 ? r.stdout.trim() : undefined;
  };
  const mtime = (f) => {
    try {
      return fs.statSync(path.join(ROOT, f)).mtime.toISOString();
    } catch {
      return undefined;
    }
  };
  const dirty = git(['status', '--porcelain', '--', 'lib', 'native', 'ext', 'binding.gyp']);
  return {
    commit: git(['rev-parse', '--short', 'HEAD']),
    uncommittedCodeFiles: dirty === undefined ? undefined : dirty.split('\n').filter(Boolean).length,
    addonBuilt: mtime('build/Release/fcgi.node'),
    distBuilt: mtime('dist/index.js'),
  };
}

function nodeFastcgiVersion() {
  try {
    return JSON.parse(fs.readFileSync(require.resolve('node-fastcgi/package.json', { paths: [ROOT] }), 'utf8')).version;
  } catch {
    return undefined;
  }
}

// ---------- processes (every one we start is tracked and stopped by PID) ----------

const started = new Set();

/** PIDs below `pid` now (children, grandchildren), from /proc. */
function descendants(pid) {
  const children = new Map();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat;
    try {
      stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue;
    }
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (!children.has(ppid)) children.set(ppid, []);
    children.get(ppid).push(Number(entry));
  }
  const out = [];
  const queue = [pid];
  while (queue.length) {
    const p = queue.shift();
    for (const c of children.get(p) || []) {
      out.push(c);
      queue.push(c);
    }
  }
  return out;
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function killPid(pid, signal) {
  try {
    process.kill(pid, signal);
  } catch {
    // gone already
  }
}

/** Starts a process with output to logFile; tracked until stop(). */
function startProcess(command, args, { logFile, env, cwd } = {}) {
  const out = logFile ? fs.openSync(logFile, 'a') : 'ignore';
  const child = spawn(command, args, { stdio: ['ignore', out, out], env: env || process.env, cwd });
  if (typeof out === 'number') fs.closeSync(out);
  const handle = {
    child,
    pid: child.pid,
    exited: false,
    exitCode: null,
    logFile,
    exitPromise: null,
  };
  handle.exitPromise = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      handle.exited = true;
      handle.exitCode = code === null ? signal : code;
      resolve();
    });
    child.on('error', (err) => {
      handle.exited = true;
      handle.exitCode = err.code;
      resolve();
    });
  });
  started.add(handle);
  return handle;
}

function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

/** Resolves when the process exits or after ms, whichever is first (no timer left behind). */
function exitOrTimeout(handle, ms) {
  let timer;
  return Promise.race([handle.exitPromise, new Promise((r) => (timer = setTimeout(r, ms)))]).finally(() => clearTimeout(timer));
}

/** SIGTERM (or `signal`), then SIGKILL after `graceMs`, for the process and what it started. */
async function stopProcess(handle, { signal = 'SIGTERM', graceMs = 3000 } = {}) {
  if (!started.has(handle)) return;
  const below = handle.exited ? [] : descendants(handle.pid);
  if (!handle.exited) killPid(handle.pid, signal);
  const deadline = Date.now() + graceMs;
  await exitOrTimeout(handle, graceMs);
  if (!handle.exited) killPid(handle.pid, 'SIGKILL');
  await exitOrTimeout(handle, 1000);
  // Children the main process did not take down with it (php-fpm workers, nginx workers): by PID.
  for (const p of below) {
    while (alive(p) && Date.now() < deadline) await sleep(20);
    if (alive(p)) killPid(p, 'SIGKILL');
  }
  started.delete(handle);
}

/** Last-resort synchronous cleanup (process 'exit'): SIGKILL everything still tracked, by PID. */
function killAllSync() {
  for (const h of started) {
    if (h.exited) continue;
    for (const p of descendants(h.pid)) killPid(p, 'SIGKILL');
    killPid(h.pid, 'SIGKILL');
  }
  started.clear();
}

async function stopAll() {
  await Promise.all([...started].map((h) => stopProcess(h)));
}

function logTail(handle, lines = 20) {
  if (!handle.logFile) return '';
  try {
    return fs.readFileSync(handle.logFile, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

// ---------- waiting ----------

function canConnect(target) {
  return new Promise((resolve) => {
    const sock = net.connect(target);
    const done = (ok) => {
      sock.destroy();
      resolve(ok);
    };
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
    sock.setTimeout(1000, () => done(false));
  });
}

/**
 * Waits until the unix socket file exists (FastCGI apps: not connected to, so no app sees a request-less
 * connection) or a TCP/unix HTTP endpoint accepts connections, bounded by timeoutMs.
 */
async function waitReady(handle, { socketFile, connect, timeoutMs = 10_000 }) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (handle.exited) throw new Error(`exited (${handle.exitCode}) before it was ready:\n${logTail(handle)}`);
    if (socketFile && fs.existsSync(socketFile)) return;
    if (connect && (await canConnect(connect))) return;
    if (Date.now() > deadline) throw new Error(`not ready after ${timeoutMs} ms:\n${logTail(handle)}`);
    await sleep(20);
  }
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

// ---------- /proc readings ----------

/** utime+stime in clock ticks of a process and its descendants (threads included). */
function cpuTicks(pids) {
  let total = 0;
  for (const pid of pids) {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      total += Number(f[11]) + Number(f[12]); // fields 14, 15 of stat(5)
    } catch {
      // exited
    }
  }
  return total;
}

/**
 * CPU ticks of each pid's main thread (its thread id is the pid), summed: for a Node app, its JS thread, which
 * is what saturates first when the handler's JavaScript dominates (an Express app).
 */
function mainThreadTicks(pids) {
  let total = 0;
  for (const pid of pids) {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/task/${pid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      total += Number(f[11]) + Number(f[12]);
    } catch {
      // exited
    }
  }
  return total;
}

/** VmRSS (and VmHWM, the peak) in KiB, summed over the pids. */
function memoryKiB(pids) {
  let rss = 0;
  let hwm = 0;
  for (const pid of pids) {
    try {
      const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
      rss += Number((/^VmRSS:\s+(\d+)/m.exec(status) || [0, 0])[1]);
      hwm += Number((/^VmHWM:\s+(\d+)/m.exec(status) || [0, 0])[1]);
    } catch {
      // exited
    }
  }
  return { rss, hwm };
}

/** Busy (non-idle, non-iowait) and total clock ticks of the whole machine, from /proc/stat. */
function machineTicks() {
  const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const total = f.slice(0, 8).reduce((a, b) => a + b, 0); // user nice system idle iowait irq softirq steal
  return { busy: total - f[3] - f[4], total, steal: f[7] };
}

function threadCount(pid) {
  try {
    return fs.readdirSync(`/proc/${pid}/task`).length;
  } catch {
    return 0;
  }
}

// ---------- the apps ----------

/**
 * Every app serves /<anything>/hello, /big and /echo (the last path segment picks the variant).
 * kind: 'fcgi' behind fastcgi_pass, 'http' behind proxy_pass.
 */
/** The app a def runs: its own name, or for app@/checkout the app it is a copy of. */
function baseName(def) {
  return def.base || def.name;
}

/**
 * app@/abs/checkout: the def of `base` run from another checkout (its own dist/ and addon, e.g. the previous
 * commit's), named `<app>@<checkout dir name>`. Throws when that checkout is not built.
 */
function checkoutAppDef(base, root) {
  if (!fs.existsSync(path.join(root, 'dist/index.js'))) {
    throw new Error(`${base.name}@${root}: ${root}/dist/index.js is missing (build that checkout)`);
  }
  return {
    ...base,
    name: `${base.name}@${path.basename(root)}`,
    label: `${base.label} (${root})`,
    base: base.name,
    appsDir: path.join(root, 'bench/apps'),
  };
}

const APP_DEFS = [
  { name: 'c', label: 'C libfcgi loop', kind: 'fcgi' },
  { name: 'sync', label: 'libfcgi sync loop', kind: 'fcgi' },
  { name: 'server', label: 'libfcgi concurrent server', kind: 'fcgi' },
  // The same server as the README teaches it: an async handler reading req.env.
  { name: 'server-readme', label: 'libfcgi concurrent server, README-style handler (async, req.env)', kind: 'fcgi' },
  { name: 'go', label: 'Go net/http/fcgi', kind: 'fcgi' },
  { name: 'node-fastcgi', label: 'node-fastcgi (npm)', kind: 'fcgi' },
  { name: 'php', label: 'PHP-FPM, 1 worker', kind: 'fcgi' },
  { name: 'node-http', label: 'Node http via proxy_pass', kind: 'http' },
  // node-http's listener over fromNodeListener: the adapter's own cost with no framework in the way (a
  // measurement against its baseline, not a target: target false).
  { name: 'listener', label: 'Node http listener over fromNodeListener', kind: 'fcgi', baseline: 'node-http', target: false },
  // Framework pairs (issue 11): the app over a libfcgi adapter, and `baseline`, the same app on its usual
  // Node http server behind proxy_pass; the summary gives the ratio to the baseline.
  { name: 'hono', label: 'Hono over fromFetchHandler', kind: 'fcgi', variants: ['hello', 'json'], baseline: 'hono-node' },
  { name: 'hono-node', label: 'Hono on @hono/node-server via proxy_pass', kind: 'http', variants: ['hello', 'json'] },
  { name: 'express', label: 'Express over fromNodeListener', kind: 'fcgi', variants: ['hello', 'json'], baseline: 'express-http' },
  { name: 'express-http', label: 'Express on Node http via proxy_pass', kind: 'http', variants: ['hello', 'json'] },
];

/** Builds apps/go-fcgi.go (standard library only) with `go build` into dir; returns the binary's path. */
function buildGo(dir, goBin) {
  const out = path.join(dir, 'go-fcgi');
  // The user's build cache when there is a home (fast after the first build), else one in the temp dir.
  const env = { ...process.env, GO111MODULE: 'off', ...(process.env.HOME ? {} : { GOCACHE: path.join(dir, 'go-cache') }) };
  execFileSync(goBin, ['build', '-o', out, path.join(APPS_DIR, 'go-fcgi.go')], {
    stdio: ['ignore', 'inherit', 'inherit'],
    env,
    cwd: dir,
    timeout: 300_000,
  });
  return out;
}

/** Compiles the C loop against the vendored fcgi2 into dir; returns the binary's path. */
function buildC(dir, cc) {
  const out = path.join(dir, 'c-libfcgi');
  const inc = ['-I', path.join(ROOT, 'ext/fcgi2/include'), '-I', path.join(ROOT, 'ext/config')];
  const objs = [];
  // The vendored sources are upstream's: their warnings are not ours (as in ext/fcgi2.gyp).
  for (const src of ['fcgiapp.c', 'os_unix.c']) {
    const obj = path.join(dir, src.replace(/\.c$/, '.o'));
    execFileSync(cc, ['-O2', '-g', '-w', ...inc, '-c', path.join(ROOT, 'ext/fcgi2/libfcgi', src), '-o', obj], {
      stdio: ['ignore', 'inherit', 'inherit'],
      timeout: 120_000,
    });
    objs.push(obj);
  }
  execFileSync(cc, ['-O2', '-g', '-Wall', '-Wextra', '-Werror', ...inc, path.join(APPS_DIR, 'c-libfcgi.c'), ...objs, '-o', out], {
    stdio: ['ignore', 'inherit', 'inherit'],
    timeout: 120_000,
  });
  return out;
}

function phpFpmConfig(dir, socketPath) {
  const asRoot = process.getuid && process.getuid() === 0;
  return [
    '; Generated by bench/harness.js',
    '[global]',
    `pid = ${path.join(dir, 'php-fpm.pid')}`,
    `error_log = ${path.join(dir, 'php-fpm-error.log')}`,
    'log_level = notice',
    'daemonize = no',
    '',
    '[bench]',
    ...(asRoot ? ['user = root', 'group = root'] : []),
    `listen = ${socketPath}`,
    'listen.mode = 0666',
    'listen.backlog = 511',
    'pm = static',
    'pm.max_children = 1',
    'pm.max_requests = 0',
    `chdir = ${APPS_DIR}`,
    'catch_workers_output = yes',
    'clear_env = no',
    '',
  ].join('\n');
}

/**
 * Which apps can run here: { name: reason-not-available } for the missing ones. node-fastcgi must be
 * installed (devDependency); php-fpm, cc must be on the system.
 */
function unavailableApps(tools) {
  const out = {};
  if (!tools.cc) out.c = 'no C compiler';
  if (!tools.go) out.go = 'go is not installed (apt-get install golang-go)';
  if (!tools['php-fpm']) out.php = 'php-fpm is not installed';
  if (!nodeFastcgiVersion()) out['node-fastcgi'] = 'the npm package node-fastcgi is not installed (devDependency)';
  if (!fs.existsSync(path.join(ROOT, 'dist/index.js'))) {
    out.sync = out.server = out['server-readme'] = out.hono = 'dist/ is missing: run "npm run build"';
  }
  for (const [app, pkg] of [
    ['hono', 'hono'],
    ['hono-node', '@hono/node-server'],
  ]) {
    try {
      require.resolve(pkg, { paths: [ROOT] });
    } catch {
      out[app] = `the npm package ${pkg} is not installed (devDependency)`;
    }
  }
  return out;
}

/**
 * Starts one app listening on dir/<name>.sock; resolves to { def, handle, socket, pids() }.
 * env: extra environment for Node apps (e.g. LIBFCGI_BENCH_CONCURRENCY). nodeArgs: e.g. ['--cpu-prof'].
 */
async function startApp(def, { dir, tools, cBinary, goBinary, env = {}, nodeArgs = [], wrap = [], readyTimeoutMs = 10_000 }) {
  const socket = path.join(dir, `${def.name}.sock`);
  const logFile = path.join(dir, `${def.name}.log`);
  try {
    fs.unlinkSync(socket);
  } catch {
    // not there
  }
  let command;
  let args;
  const node = process.execPath;
  switch (def.name) {
    case 'c':
      command = cBinary;
      args = [socket];
      break;
    case 'go':
      command = goBinary;
      args = [socket];
      break;
    case 'php': {
      const conf = path.join(dir, 'php-fpm.conf');
      fs.writeFileSync(conf, phpFpmConfig(dir, socket));
      command = tools['php-fpm'];
      args = ['-F', '-y', conf, '-p', dir, ...(process.getuid && process.getuid() === 0 ? ['-R'] : [])];
      break;
    }
    default:
      command = node;
      args = [
        ...nodeArgs,
        ...(process.env.LIBFCGI_BENCH_NODE_ARGS || '').split(' ').filter(Boolean),
        path.join(def.appsDir || APPS_DIR, `${baseName(def)}.js`),
        socket,
      ];
  }
  if (wrap.length) {
    args = [...wrap.slice(1), command, ...args];
    command = wrap[0];
  }
  const handle = startProcess(command, args, { logFile, env: { ...process.env, ...env }, cwd: dir });
  try {
    await waitReady(handle, {
      ...(def.kind === 'http' ? { connect: { path: socket } } : { socketFile: socket }),
      timeoutMs: readyTimeoutMs,
    });
    // php-fpm creates its socket in the master before the worker is forked: wait for the worker too.
    if (def.name === 'php') {
      const deadline = Date.now() + 5000;
      while (descendants(handle.pid).length < 1 && Date.now() < deadline) await sleep(20);
    }
  } catch (err) {
    await stopProcess(handle);
    throw new Error(`${def.label}: ${err.message}`);
  }
  return {
    def,
    handle,
    socket,
    pids: () => [handle.pid, ...descendants(handle.pid)],
  };
}

// ---------- nginx ----------

/** The params of Debian's /etc/nginx/fastcgi_params (the list the tests use); SCRIPT_FILENAME points at the PHP app. */
const FASTCGI_PARAMS = require('../test/helpers/nginx-fastcgi-params.json').map(([name, value]) =>
  name === 'SCRIPT_FILENAME' ? [name, path.join(APPS_DIR, 'php-fpm.php')] : [name, value],
);

const UPSTREAM_TIMEOUT_S = 4; // a stalled upstream becomes a logged 504 well within wrk's own timeout

function upstreamName(app, mode) {
  return `${app.replace(/[^a-z0-9]/g, '_')}_${mode}`;
}

/**
 * One nginx config for all apps: upstream <app>_new (no pool) and <app>_kept (keepalive pool), location
 * /<app>/<mode>/ for each; the last path segment picks the variant.
 */
function nginxConfig({ dir, port, apps, keepalive }) {
  const asRoot = process.getuid && process.getuid() === 0;
  const L = [];
  L.push('# Generated by bench/harness.js');
  L.push('daemon off;', 'master_process on;', 'worker_processes 1;');
  if (asRoot) L.push('user root;'); // workers reach the sockets in our 0700 temp dir
  L.push(`pid ${dir}/nginx.pid;`, `error_log ${dir}/nginx-error.log warn;`);
  L.push('events { worker_connections 4096; }');
  L.push('http {');
  L.push('  access_log off;');
  for (const t of ['client_body', 'fastcgi', 'proxy', 'uwsgi', 'scgi']) L.push(`  ${t}_temp_path ${dir}/${t}_temp;`);
  L.push('  default_type application/octet-stream;');
  L.push('  keepalive_requests 10000000;', '  keepalive_timeout 75s;');
  // Whole bodies in memory (16 KiB request, 64 KiB response): no temp files in the measured path.
  L.push('  client_max_body_size 1m;', '  client_body_buffer_size 64k;');
  L.push('  fastcgi_buffer_size 16k;', '  fastcgi_buffers 8 16k;', '  fastcgi_max_temp_file_size 0;');
  L.push('  proxy_buffer_size 16k;', '  proxy_buffers 8 16k;', '  proxy_max_temp_file_size 0;');
  for (const t of ['connect', 'send', 'read']) {
    L.push(`  fastcgi_${t}_timeout ${UPSTREAM_TIMEOUT_S}s;`, `  proxy_${t}_timeout ${UPSTREAM_TIMEOUT_S}s;`);
  }
  for (const a of apps) {
    for (const mode of MODES) {
      L.push(`  upstream ${upstreamName(a.name, mode)} {`);
      L.push(`    server unix:${path.join(dir, `${a.name}.sock`)};`);
      if (isKept(mode))
        L.push(`    keepalive ${keepalive};`, `    keepalive_requests ${KEEPALIVE_REQUESTS[mode]};`, '    keepalive_timeout 60s;');
      L.push('  }');
    }
  }
  L.push('  server {');
  L.push(`    listen 127.0.0.1:${port};`, '    server_name localhost;', `    root ${APPS_DIR};`);
  for (const a of apps) {
    for (const mode of MODES) {
      L.push(`    location /${a.name}/${mode}/ {`);
      if (a.kind === 'http') {
        L.push(`      proxy_pass http://${upstreamName(a.name, mode)};`);
        if (isKept(mode)) L.push('      proxy_http_version 1.1;', '      proxy_set_header Connection "";');
        else L.push('      proxy_http_version 1.0;'); // "Connection: close" to the app
      } else {
        L.push(`      fastcgi_pass ${upstreamName(a.name, mode)};`);
        L.push(`      fastcgi_keep_conn ${isKept(mode) ? 'on' : 'off'};`);
        for (const [n, v] of FASTCGI_PARAMS) L.push(`      fastcgi_param ${n.padEnd(17)} ${v};`);
      }
      L.push('    }');
    }
  }
  L.push('  }', '}', '');
  return L.join('\n');
}

/** Starts nginx on the config; resolves to { handle, pids(), errorLog() }. */
async function startNginx({ dir, port, apps, keepalive, nginxBin }) {
  const conf = path.join(dir, 'nginx.conf');
  fs.writeFileSync(conf, nginxConfig({ dir, port, apps, keepalive }));
  const errorLogFile = path.join(dir, 'nginx-error.log');
  fs.writeFileSync(errorLogFile, '');
  const handle = startProcess(nginxBin, ['-p', `${dir}/`, '-c', conf, '-e', errorLogFile], {
    logFile: path.join(dir, 'nginx-stderr.log'),
  });
  try {
    await waitReady(handle, { connect: { host: '127.0.0.1', port }, timeoutMs: 5000 });
    // The master binds first; the worker must exist before we measure its CPU.
    const deadline = Date.now() + 5000;
    while (descendants(handle.pid).length < 1 && Date.now() < deadline) await sleep(10);
  } catch (err) {
    const log = fs.existsSync(errorLogFile) ? fs.readFileSync(errorLogFile, 'utf8') : '';
    await stopProcess(handle);
    throw new Error(`nginx: ${err.message}\n${log}`);
  }
  return {
    handle,
    port,
    pids: () => [handle.pid, ...descendants(handle.pid)],
    workerPids: () => descendants(handle.pid),
    errorLog: () => fs.readFileSync(errorLogFile, 'utf8'),
  };
}

/** Error-level lines of an nginx error log (upstream resets, timeouts, premature closes). */
function errorLines(text) {
  return text.split('\n').filter((l) => /\[(error|crit|alert|emerg)\]/.test(l));
}

// ---------- checking replies ----------

function httpRequest(port, urlPath, variant, timeoutMs = 5000) {
  const v = VARIANTS[variant];
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        path: urlPath,
        method: v.method,
        agent: false,
        headers: v.body ? { 'Content-Type': v.contentType || 'application/octet-stream', 'Content-Length': v.body.length } : {},
        timeout: timeoutMs,
      },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no reply within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(v.body);
  });
}

/** One request through nginx; returns undefined when the reply is right, else what is wrong. */
async function checkReply(port, app, mode, variant) {
  const urlPath = `/${app}/${mode}/${variant}`;
  let res;
  try {
    res = await httpRequest(port, urlPath, variant);
  } catch (err) {
    return `${urlPath}: ${err.message}`;
  }
  const want = VARIANTS[variant].expectBody;
  if (res.status !== 200) return `${urlPath}: status ${res.status}, body ${JSON.stringify(res.body.subarray(0, 200).toString())}`;
  if (!String(res.headers['content-type'] || '').startsWith(VARIANTS[variant].expectType || 'text/plain')) {
    return `${urlPath}: Content-Type ${JSON.stringify(res.headers['content-type'])}`;
  }
  if (!res.body.equals(want)) {
    const got = res.body.length > 64 ? `${res.body.length} bytes` : JSON.stringify(res.body.toString());
    return `${urlPath}: body ${got}, want ${want.length > 64 ? `${want.length} bytes` : JSON.stringify(want.toString())}`;
  }
  return undefined;
}

// ---------- wrk ----------

/** wrk Lua: POST body for echo, and a done() that prints the numbers as one JSON line. */
function writeWrkScripts(dir) {
  const done = `
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"bytes":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,"lat_mean_us":%.1f,"lat_p50_us":%d,"lat_p99_us":%d,"lat_max_us":%d}\\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency:percentile(50), latency:percentile(99), latency.max))
end
`;
  const get = path.join(dir, 'wrk-get.lua');
  const post = path.join(dir, 'wrk-post.lua');
  const json = path.join(dir, 'wrk-json.lua');
  fs.writeFileSync(get, done);
  fs.writeFileSync(
    post,
    `wrk.method = "POST"\nwrk.body = string.rep("a", ${VARIANTS.echo.body.length})\nwrk.headers["Content-Type"] = "application/octet-stream"\n${done}`,
  );
  // A Lua long string holds the JSON as it is (it has no "]==]").
  fs.writeFileSync(
    json,
    `wrk.method = "POST"\nwrk.body = [==[${VARIANTS.json.body}]==]\nwrk.headers["Content-Type"] = "application/json"\n${done}`,
  );
  return { get, post, json };
}

/** Runs wrk -t1 -cC -dS --latency; resolves to its numbers. Bounded: killed at duration + 15 s. */
function runWrk({ wrkBin, scripts, port, app, mode, variant, connections, durationS, timeoutS = UPSTREAM_TIMEOUT_S + 2 }) {
  const url = `http://127.0.0.1:${port}/${app}/${mode}/${variant}`;
  const script = VARIANTS[variant].method !== 'POST' ? scripts.get : variant === 'json' ? scripts.json : scripts.post;
  const args = ['-t1', `-c${connections}`, `-d${durationS}s`, '--latency', `--timeout`, `${timeoutS}s`, '-s', script, url];
  return new Promise((resolve, reject) => {
    const child = spawn(wrkBin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const handle = { child, pid: child.pid, exited: false, exitPromise: Promise.resolve() };
    started.add(handle);
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const timer = setTimeout(() => killPid(child.pid, 'SIGKILL'), (durationS + 15) * 1000);
    // wrk's own CPU: sampled while it runs (its /proc entry is gone once it exited).
    let wrkTicks = 0;
    const sampler = setInterval(() => {
      const t = cpuTicks([child.pid]);
      if (t > wrkTicks) wrkTicks = t;
    }, 200);
    // 'close', not 'exit': at 'exit' its stdout may still hold the lines with the numbers (seen when two wrk
    // runs end at once: bench/pair.js got an empty output and exit code 0).
    child.on('close', (code) => {
      clearTimeout(timer);
      clearInterval(sampler);
      handle.exited = true;
      started.delete(handle);
      const m = /WRKJSON (\{.*\})/.exec(out);
      if (code !== 0 || !m) return reject(new Error(`wrk ${args.join(' ')} failed (${code}): ${err}${out}`));
      resolve({ ...JSON.parse(m[1]), wrkTicks, raw: out });
    });
  });
}

// ---------- statistics ----------

function median(xs) {
  const v = xs.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return undefined;
  const mid = v.length >> 1;
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

function makeTempDir(prefix) {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

module.exports = {
  ROOT,
  APPS_DIR,
  CLK_TCK,
  VARIANTS,
  CORE_VARIANTS,
  appVariants,
  MODES,
  isKept,
  APP_DEFS,
  baseName,
  checkoutAppDef,
  UPSTREAM_TIMEOUT_S,
  setQuiet,
  log,
  ensureTools,
  machineInfo,
  sourceInfo,
  unavailableApps,
  buildC,
  buildGo,
  findBinary,
  startApp,
  startNginx,
  startProcess,
  stopProcess,
  stopAll,
  killAllSync,
  descendants,
  errorLines,
  checkReply,
  writeWrkScripts,
  runWrk,
  cpuTicks,
  mainThreadTicks,
  machineTicks,
  memoryKiB,
  threadCount,
  freePort,
  median,
  sleep,
  makeTempDir,
  httpRequest,
};
