#!/usr/bin/env node
// Prints what the build-info record says about the vendored fcgi2, for binding.gyp and CMakeLists.txt:
// `version` (from ext/upstream.sha256's tarball name) or `patches` (ext/patches/*.patch, comma-separated).
'use strict';
const fs = require('fs');
const path = require('path');

const ext = path.join(__dirname, '..', 'ext');
const what = process.argv[2];
if (what === 'version') {
  const line = fs.readFileSync(path.join(ext, 'upstream.sha256'), 'utf8');
  const m = /libfcgi_([\d.]+)\.orig\.tar/.exec(line);
  if (!m) throw new Error('ext/upstream.sha256 names no libfcgi_<version>.orig.tar.* tarball');
  process.stdout.write(m[1]);
} else if (what === 'patches') {
  const patches = fs
    .readdirSync(path.join(ext, 'patches'))
    .filter((f) => f.endsWith('.patch'))
    .sort()
    .map((f) => f.slice(0, -'.patch'.length));
  process.stdout.write(patches.join(','));
} else {
  process.stderr.write('usage: fcgi2-build-info.js version|patches\n');
  process.exit(2);
}
