#!/usr/bin/env node
// Builds the addon against the system libfcgi (--use_system_libfcgi=true, Debian's libfcgi-dev) in its own
// directory and runs the protocol suite on it, minus the tests test/protocol/system-libfcgi-skips.json names
// (each needs one of our ext/patches). Usage: node scripts/test-system-libfcgi.js [jest args...]
'use strict';
const { execFileSync, spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const root = path.join(__dirname, '..');
const out = process.env.LIBFCGI_SYSTEM_BUILD || path.join(root, 'build-system-libfcgi');

function run(cmd, args, options = {}) {
  const r = spawnSync(cmd, args, { stdio: 'inherit', ...options });
  if (r.status !== 0) {
    process.stderr.write(`test-system-libfcgi: ${cmd} ${args.join(' ')} failed (${r.status ?? r.signal})\n`);
    process.exit(1);
  }
}

// 1. A copy of the build inputs, so build/ (the vendored build) stays as it is.
fs.rmSync(out, { recursive: true, force: true });
fs.mkdirSync(out, { recursive: true });
for (const f of ['binding.gyp', 'package.json', 'native', 'ext', 'scripts/fcgi2-build-info.js']) {
  fs.cpSync(path.join(root, f), path.join(out, f), { recursive: true });
}
fs.symlinkSync(path.join(root, 'node_modules'), path.join(out, 'node_modules'));
const nodeGyp = require.resolve('node-gyp/bin/node-gyp.js', { paths: [root] });
run(process.execPath, [nodeGyp, 'rebuild', '--use_system_libfcgi=true'], { cwd: out });
const addon = path.join(
  out,
  'build',
  'Release',
  fs.readdirSync(path.join(out, 'build', 'Release')).find((f) => f.endsWith('.node')),
);

// 2. It is the system library's build: no patches, linked against libfcgi.so.
const info = require(addon).buildInfo;
const ldd = execFileSync('ldd', [addon], { encoding: 'utf8' });
console.log(`built ${addon}: fcgi2 ${info.fcgi2Version}, patches [${info.patches.join(', ')}], features [${info.features.join(', ')}]`);
if (!info.systemLibfcgi || info.patches.length !== 0 || !/libfcgi\.so/.test(ldd)) {
  process.stderr.write(`test-system-libfcgi: ${addon} is not linked against the system libfcgi:\n${ldd}\n`);
  process.exit(1);
}

// 3. The protocol suite on it, each test that needs a patch skipped by name.
const { skips } = JSON.parse(fs.readFileSync(path.join(root, 'test/protocol/system-libfcgi-skips.json'), 'utf8'));
console.log(`skipped (they need patches a system libfcgi lacks):`);
for (const s of skips) console.log(`  ${s.patch}: ${s.test}`);
const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const pattern = `^(?!(${skips.map((s) => escape(s.test)).join('|')}))`;
run(
  process.execPath,
  [require.resolve('jest/bin/jest', { paths: [root] }), '--runInBand', 'test/protocol', '-t', pattern, ...process.argv.slice(2)],
  {
    cwd: root,
    env: { ...process.env, LIBFCGI_NATIVE: addon, LIBFCGI_SYSTEM: '1' },
  },
);
