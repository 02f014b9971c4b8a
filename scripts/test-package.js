#!/usr/bin/env node
// `npm run test:package`: the package as users get it. Packs the tarball (prepack builds the prebuild), checks its
// contents, size, publint and attw, installs it into fresh temp projects with no compiler on PATH and uses it there
// (CJS, ESM, libfcgi/client, TypeScript under nodenext and commonjs, the CLI, a request through `libfcgi serve`, a
// .ts app without and with tsx), with --ignore-scripts, and builds it from source with a compiler (its build-info
// must equal the prebuild's). Every step has a time limit; every process started is stopped.
'use strict';
const { spawn, spawnSync } = require('child_process');
const fs = require('fs');
const http = require('http');
const os = require('os');
const path = require('path');

const root = path.join(__dirname, '..');
const rootPkg = require(path.join(root, 'package.json'));
// The tarball (compressed) must stay under this: prebuild + fcgi2 sources + dist + docs files.
const MAX_TARBALL_BYTES = 1024 * 1024;
// What a user's project installs next to the tarball for TypeScript (the versions this repository tests with).
const TS_DEPS = [`typescript@${rootPkg.devDependencies.typescript}`, `@types/node@${rootPkg.devDependencies['@types/node']}`];
const TSX_DEP = `tsx@${rootPkg.devDependencies.tsx}`;
const STEP_TIMEOUT_MS = 10 * 60 * 1000;
const COMPILERS = ['cc', 'gcc', 'c++', 'g++', 'clang', 'clang++', 'make', 'python3', 'python'];

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'libfcgi-package-'));
const keep = process.env.LIBFCGI_KEEP_PACKAGE_TEST === '1';
let failures = 0;

function step(title) {
  process.stdout.write(`\n--- ${title}\n`);
}
function ok(what) {
  process.stdout.write(`ok   ${what}\n`);
}
function fail(what, detail = '') {
  failures++;
  process.stdout.write(`FAIL ${what}${detail ? `\n${String(detail).replace(/^/gm, '     ')}` : ''}\n`);
}
function check(cond, what, detail) {
  if (cond) ok(what);
  else fail(what, detail);
  return cond;
}

/** Runs a command to its end (bounded); returns { status, stdout, stderr }. */
function run(cmd, args, options = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: STEP_TIMEOUT_MS, maxBuffer: 64 * 1024 * 1024, ...options });
  if (r.error) return { status: -1, stdout: r.stdout ?? '', stderr: `${r.stderr ?? ''}\n${r.error.message}` };
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
function must(r, what) {
  if (r.status !== 0) {
    fail(what, `exit ${r.status}\n${r.stdout}\n${r.stderr}`.slice(-6000));
    finish();
  }
  ok(what);
  return r;
}

// npm's own CLI script (for a PATH with node, npm, npx and sh only: no compiler, as on a production host).
function findNpmCli() {
  const r = run(process.execPath, [
    '-e',
    "console.log(require.resolve('npm/bin/npm-cli.js', { paths: [process.argv[1]] }))",
    path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules'),
  ]);
  if (r.status === 0) return r.stdout.trim();
  const which = run('sh', ['-c', 'command -v npm']).stdout.trim();
  return fs.realpathSync(which);
}

function makeProject(name, env) {
  const dir = path.join(work, name);
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: `try-${name}`, version: '1.0.0', private: true }, null, 2));
  return { dir, run: (cmd, args, options = {}) => run(cmd, args, { cwd: dir, env, ...options }) };
}

/** `npx libfcgi serve <app>` on a free port: resolves with the response body of GET /, then stops the server. */
function serveOnce(project, env, app, timeoutMs = 60000) {
  return new Promise((resolve) => {
    const child = spawn('npx', ['--no-install', 'libfcgi', 'serve', app, '--listen', '127.0.0.1:0', '--quiet'], {
      cwd: project.dir,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true, // its own process group: the workers are stopped with it
    });
    let out = '';
    let err = '';
    let settled = false;
    const done = (result) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (child.exitCode === null && child.signalCode === null) {
        child.once('exit', () => resolve({ ...result, stderr: err }));
        try {
          process.kill(-child.pid, 'SIGTERM');
        } catch {
          resolve({ ...result, stderr: err });
        }
        setTimeout(() => {
          try {
            process.kill(-child.pid, 'SIGKILL');
          } catch {
            // gone
          }
        }, 10000).unref();
      } else {
        resolve({ ...result, stderr: err });
      }
    };
    const timer = setTimeout(() => done({ error: `no answer within ${timeoutMs} ms; stdout: ${out}` }), timeoutMs);
    child.stderr.on('data', (d) => (err += d));
    child.stdout.on('data', (d) => {
      out += d;
      const m = /http:\/\/127\.0\.0\.1:(\d+)/.exec(out);
      if (!m || settled) return;
      http
        .get({ host: '127.0.0.1', port: Number(m[1]), path: '/hello?x=1' }, (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (c) => (body += c));
          res.on('end', () => done({ status: res.statusCode, body }));
        })
        .on('error', (e) => done({ error: e.message }));
    });
    child.on('exit', (code, signal) => done({ error: `libfcgi serve exited (${code ?? signal}) before answering; stdout: ${out}` }));
  });
}

function finish() {
  if (keep) process.stdout.write(`\n(kept ${work})\n`);
  else fs.rmSync(work, { recursive: true, force: true });
  process.stdout.write(failures === 0 ? '\ntest:package: all passed\n' : `\ntest:package: ${failures} failed\n`);
  process.exit(failures === 0 ? 0 : 1);
}

async function main() {
  // 1. The tarball.
  // LIBFCGI_PACKAGE_DIR: pack into this directory and keep the tarball there; with LIBFCGI_PACKAGE_REUSE=1 an
  // existing tarball there is used as it is (to iterate on the later steps).
  const packDir = process.env.LIBFCGI_PACKAGE_DIR ? path.resolve(process.env.LIBFCGI_PACKAGE_DIR) : work;
  fs.mkdirSync(packDir, { recursive: true });
  const infoFile = path.join(packDir, 'pack.json');
  let info;
  if (process.env.LIBFCGI_PACKAGE_REUSE === '1' && fs.existsSync(infoFile)) {
    step(`reusing the tarball in ${packDir}`);
    [info] = JSON.parse(fs.readFileSync(infoFile, 'utf8'));
  } else {
    step('npm pack (prepack builds the TypeScript and the prebuild)');
    const pack = must(
      run('npm', ['pack', '--json', '--pack-destination', packDir], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] }),
      'npm pack',
    );
    // npm prints the JSON after the prepack scripts' own output (which has brackets of its own).
    const jsonStart = pack.stdout.lastIndexOf('\n[\n');
    const json = jsonStart >= 0 ? pack.stdout.slice(jsonStart) : pack.stdout;
    fs.writeFileSync(infoFile, json);
    [info] = JSON.parse(json);
  }
  const tarball = path.join(packDir, info.filename);
  const files = info.files.map((f) => f.path);
  process.stdout.write(`tarball ${info.filename}: ${info.size} bytes packed, ${info.unpackedSize} unpacked, ${files.length} files\n`);
  check(info.size < MAX_TARBALL_BYTES, `tarball size ${info.size} B < ${MAX_TARBALL_BYTES} B`);
  const prebuilds = files.filter((f) => /^prebuilds\/linux-x64\/.*\.node$/.test(f));
  check(prebuilds.length === 1, 'a linux-x64 prebuild is in the tarball', files.filter((f) => f.startsWith('prebuilds')).join('\n'));
  for (const f of [
    'LICENSE',
    'SECURITY.md',
    'CHANGELOG.md',
    'README.md',
    'ext/fcgi2/LICENSE',
    'dist/index.js',
    'dist/index.mjs',
    'dist/index.d.mts',
    'dist/client/index.d.ts',
    'client/package.json',
    'binding.gyp',
  ]) {
    check(files.includes(f), `the tarball has ${f}`);
  }
  const unwanted = files.filter((f) => /^(test|bench|examples|build|docs|\.ci)\//.test(f) || /\.map$/.test(f) || /(^|\/)corpus\//.test(f));
  check(unwanted.length === 0, 'no tests, bench, fuzz corpus, build output or source maps in the tarball', unwanted.join('\n'));

  step('publint and attw on the tarball');
  const bin = (name) => path.join(root, 'node_modules', '.bin', name);
  const publint = run(bin('publint'), ['run', tarball, '--strict'], { cwd: work });
  check(
    publint.status === 0 && !/warning|error|suggestion/i.test(publint.stdout.replace(/^.*All good!.*$/m, '')),
    'publint --strict reports nothing',
    publint.stdout + publint.stderr,
  );
  process.stdout.write(publint.stdout);
  const attw = run(bin('attw'), [tarball, '--format', 'table-flipped'], { cwd: work });
  check(attw.status === 0 && /No problems found/.test(attw.stdout), 'attw reports no problems', attw.stdout + attw.stderr);

  // 2. Installed with no compiler on PATH.
  step('install into a fresh project with only node, npm, npx and sh on PATH');
  const bare = path.join(work, 'bare-bin');
  fs.mkdirSync(bare);
  const npmCli = findNpmCli();
  fs.symlinkSync(process.execPath, path.join(bare, 'node'));
  fs.symlinkSync(npmCli, path.join(bare, 'npm'));
  fs.symlinkSync(path.join(path.dirname(npmCli), 'npx-cli.js'), path.join(bare, 'npx'));
  fs.symlinkSync('/bin/sh', path.join(bare, 'sh')); // npm runs package scripts with sh
  const bareEnv = {
    HOME: process.env.HOME,
    PATH: bare,
    TMPDIR: os.tmpdir(),
    npm_config_update_notifier: 'false',
    npm_config_fund: 'false',
    npm_config_audit: 'false',
  };
  const reachable = COMPILERS.filter((c) => run('/bin/sh', ['-c', `command -v ${c}`], { env: bareEnv }).status === 0);
  check(reachable.length === 0, `no compiler or build tool reachable on PATH (${COMPILERS.join(' ')})`, reachable.join(' '));

  const app = makeProject('app', bareEnv);
  must(app.run('npm', ['install', tarball, ...TS_DEPS]), `npm install <tarball> ${TS_DEPS.join(' ')} (no compiler)`);
  const installed = path.join(app.dir, 'node_modules', 'libfcgi');
  check(!fs.existsSync(path.join(installed, 'build')), 'nothing was compiled at install (no build/ in node_modules/libfcgi)');

  const cjs = app.run('node', [
    '-e',
    "const l = require('libfcgi'); const c = require('libfcgi/client'); if (typeof l.FastCGI !== 'function' || typeof l.createServer !== 'function' || typeof c.FastCGIClient !== 'function') process.exit(1); console.log(JSON.stringify(l.buildInfo))",
  ]);
  check(cjs.status === 0, "require('libfcgi') and require('libfcgi/client')", cjs.stderr);
  const esm = app.run('node', [
    '--input-type=module',
    '-e',
    "import { FastCGI, createServer } from 'libfcgi'; import lib from 'libfcgi'; import { FastCGIClient, fcgiRequest } from 'libfcgi/client'; if (typeof FastCGI !== 'function' || lib.FastCGI !== FastCGI || typeof createServer !== 'function' || typeof FastCGIClient !== 'function' || typeof fcgiRequest !== 'function') process.exit(1);",
  ]);
  check(esm.status === 0, "import { FastCGI } from 'libfcgi' and from 'libfcgi/client' (ESM)", esm.stderr);

  step('TypeScript against the installed declarations');
  const tsSource = `import { FastCGI, createServer, buildInfo, type ServerOptions, type ListenOptions } from 'libfcgi';
import { FastCGIClient, fcgiRequest, type FcgiRequestResult } from 'libfcgi/client';
const listen: ListenOptions = { path: '/tmp/never.sock' };
const options: ServerOptions = { concurrency: 4 };
export const version: string = buildInfo.fcgi2Version;
export function make(): [typeof FastCGI, typeof createServer, typeof FastCGIClient, typeof fcgiRequest] {
  void listen; void options;
  return [FastCGI, createServer, FastCGIClient, fcgiRequest];
}
export type Result = FcgiRequestResult;
`;
  fs.writeFileSync(path.join(app.dir, 'check.ts'), tsSource);
  fs.writeFileSync(path.join(app.dir, 'check-esm.mts'), tsSource);
  const tsc = path.join(app.dir, 'node_modules', 'typescript', 'bin', 'tsc');
  const nodenext = app.run('node', [
    tsc,
    '--noEmit',
    '--strict',
    '--module',
    'nodenext',
    '--moduleResolution',
    'nodenext',
    '--types',
    'node',
    'check.ts',
    'check-esm.mts',
  ]);
  check(nodenext.status === 0, 'tsc --module nodenext --strict (a .ts and a .mts file)', nodenext.stdout + nodenext.stderr);
  // The declarations use private class fields (#x), so the target must be ES2015 or later (tsc --init: es2016).
  const commonjs = app.run('node', [
    tsc,
    '--noEmit',
    '--strict',
    '--module',
    'commonjs',
    '--target',
    'es2016',
    '--esModuleInterop',
    '--types',
    'node',
    'check.ts',
  ]);
  check(commonjs.status === 0, 'tsc --module commonjs --target es2016 --strict', commonjs.stdout + commonjs.stderr);

  step('the CLI');
  const help = app.run('npx', ['--no-install', 'libfcgi', '--help']);
  check(help.status === 0 && /Usage: libfcgi/.test(help.stdout), 'npx libfcgi --help', help.stdout + help.stderr);
  fs.writeFileSync(
    path.join(app.dir, 'app.js'),
    "const { FastCGI } = require('libfcgi');\nconst fcgi = new FastCGI();\nwhile (fcgi.accept()) {\n  fcgi.header({ 'Content-Type': 'text/plain' });\n  fcgi.print(`hello from ${fcgi.env.REQUEST_URI}`);\n}\n",
  );
  const served = await serveOnce(app, bareEnv, 'app.js');
  check(
    served.status === 200 && served.body === 'hello from /hello?x=1',
    'a request answered through npx libfcgi serve app.js',
    JSON.stringify(served),
  );

  step('a TypeScript app: without tsx a clear message, with tsx served');
  fs.writeFileSync(
    path.join(app.dir, 'app.ts'),
    "import { FastCGI } from 'libfcgi';\nconst fcgi: FastCGI = new FastCGI();\nwhile (fcgi.accept()) {\n  const uri: string = fcgi.env.REQUEST_URI ?? '';\n  fcgi.header({ 'Content-Type': 'text/plain' });\n  fcgi.print(`ts says ${uri}`);\n}\n",
  );
  const noTsx = app.run('npx', ['--no-install', 'libfcgi', 'serve', 'app.ts', '--listen', '127.0.0.1:0'], { timeout: 60000 });
  const tsxMessage = /app\.ts is TypeScript.*npm install --save-dev tsx/s.test(noTsx.stderr) && !/^\s+at /m.test(noTsx.stderr);
  check(
    noTsx.status === 2 && tsxMessage,
    'libfcgi serve app.ts without tsx (Node 20): exit 2, says to install tsx, no stack trace',
    `exit ${noTsx.status}\n${noTsx.stderr}`,
  );
  must(app.run('npm', ['install', '--save-dev', TSX_DEP]), `npm install --save-dev ${TSX_DEP}`);
  const servedTs = await serveOnce(app, bareEnv, 'app.ts');
  check(
    servedTs.status === 200 && servedTs.body === 'ts says /hello?x=1',
    'with tsx in the project: a request answered through libfcgi serve app.ts',
    JSON.stringify(servedTs),
  );

  // 3. Install scripts off (npm's allowScripts, --ignore-scripts): node-gyp-build finds the prebuild at require time.
  step('npm install --ignore-scripts: the prebuild still loads; without it the error says npm rebuild libfcgi');
  const noScripts = makeProject('no-scripts', bareEnv);
  must(noScripts.run('npm', ['install', '--ignore-scripts', tarball]), 'npm install --ignore-scripts <tarball>');
  const loads = noScripts.run('node', [
    '-e',
    "const l = require('libfcgi'); process.exit(typeof l.FastCGI === 'function' && l.buildInfo.patches.length > 0 ? 0 : 1)",
  ]);
  check(loads.status === 0, 'require(libfcgi) loads the prebuild without install scripts', loads.stderr);
  fs.rmSync(path.join(noScripts.dir, 'node_modules', 'libfcgi', 'prebuilds'), { recursive: true, force: true });
  const missing = noScripts.run('node', ['-e', "require('libfcgi')"]);
  check(
    missing.status !== 0 && /npm rebuild libfcgi/.test(missing.stderr),
    'no prebuild and no build: the load error says "npm rebuild libfcgi"',
    missing.stderr.slice(0, 2000),
  );

  // 4. From source, with a compiler: the same record as the prebuild's.
  step("npm install --build-from-source (with a compiler): build-info equals the prebuild's");
  const src = makeProject('from-source', { ...process.env, npm_config_update_notifier: 'false' });
  must(src.run('npm', ['install', '--build-from-source', '--no-audit', '--no-fund', tarball]), 'npm install --build-from-source <tarball>');
  const pkgDir = path.join(src.dir, 'node_modules', 'libfcgi');
  const built = path.join(pkgDir, 'build', 'Release');
  const builtNode = fs.existsSync(built) ? fs.readdirSync(built).find((f) => f.endsWith('.node')) : undefined;
  if (check(builtNode !== undefined, 'the addon was compiled into node_modules/libfcgi/build/Release')) {
    const prebuilt = path.join(pkgDir, prebuilds[0]);
    const record = (file) =>
      src.run('node', ['-e', `console.log(JSON.stringify(require(${JSON.stringify(file)}).buildInfo))`]).stdout.trim();
    const a = record(prebuilt);
    const b = record(path.join(built, builtNode));
    process.stdout.write(`prebuild:     ${a}\nsource build: ${b}\n`);
    check(a !== '' && a === b, 'the prebuild and the source build report the same build-info (fcgi2 version, patches, features, flags)');
    const loaded = src.run('node', ['-e', "const l = require('libfcgi'); console.log(JSON.stringify(l.buildInfo))"]);
    check(loaded.status === 0 && loaded.stdout.trim() === b, 'require(libfcgi) prefers the source build', loaded.stderr);
  }
  finish();
}

main().catch((err) => {
  fail('test:package crashed', err.stack);
  finish();
});
