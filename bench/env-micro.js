#!/usr/bin/env node
// What req.env costs per request on nginx's params (Debian's fastcgi_params + Host), in ns: the general parse
// (a layout never seen), a layout seen before (checked in place), a compiled layout (the steady state behind a
// web server), and param() (findParam) for one name. Best of 10 interleaved batches.
// Usage: node bench/env-micro.js [--package DIR]   (DIR: another build of the package, e.g. an older commit's)
'use strict';
const path = require('path');
const pkg = process.argv[2] === '--package' ? path.resolve(process.argv[3]) : path.join(__dirname, '..');
const { parseParams, findParam, forgetLayouts } = require(path.join(pkg, 'dist/env.js'));

const params = require('../test/helpers/nginx-fastcgi-params.json');
const sample = {
  REQUEST_METHOD: 'GET',
  SCRIPT_NAME: '/server/kept/hello',
  REQUEST_URI: '/server/kept/hello',
  DOCUMENT_URI: '/server/kept/hello',
  DOCUMENT_ROOT: '/srv/www',
  SCRIPT_FILENAME: '/srv/www/server/kept/hello',
  SERVER_PROTOCOL: 'HTTP/1.1',
  REQUEST_SCHEME: 'http',
  GATEWAY_INTERFACE: 'CGI/1.1',
  SERVER_SOFTWARE: 'nginx/1.22.1',
  REMOTE_ADDR: '127.0.0.1',
  REMOTE_PORT: '45678',
  SERVER_ADDR: '127.0.0.1',
  SERVER_PORT: '8080',
  SERVER_NAME: 'localhost',
  REDIRECT_STATUS: '200',
};
const pairs = params.filter(([n]) => n !== 'HTTPS').map(([n]) => `${n}=${sample[n] ?? ''}`);
pairs.push('HTTP_HOST=127.0.0.1:8080');
// Flat strings as native hands them over, several so no call sees the same string twice in a row.
const inputs = Array.from({ length: 64 }, () => Buffer.from(pairs.join('\0'), 'latin1').toString('latin1'));

const cases = forgetLayouts
  ? {
      'general parse (layout not seen)': (j) => {
        forgetLayouts();
        return parseParams(j).REQUEST_URI;
      },
      'compiled layout (steady state)': (j) => parseParams(j).REQUEST_URI,
      'param() one name (findParam)': (j) => findParam(j, 'REQUEST_URI'),
    }
  : {
      'parseParams (a build without layouts)': (j) => parseParams(j).REQUEST_URI,
      'param() one name (findParam)': (j) => findParam(j, 'REQUEST_URI'),
    };
const N = 200_000;
const best = {};
for (let round = 0; round < 10; round++) {
  for (const [name, f] of Object.entries(cases)) {
    let sink = 0;
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < N; i++) sink += f(inputs[i & 63]).length;
    const ns = Number(process.hrtime.bigint() - t0) / N;
    if (sink === 0) throw new Error('no value');
    best[name] = Math.min(best[name] ?? Infinity, ns);
  }
}
console.log(`${pkg}: ${pairs.length} params, ${inputs[0].length} bytes; load average ${require('os').loadavg()[0].toFixed(2)}`);
for (const [name, ns] of Object.entries(best)) console.log(`  ${name.padEnd(34)} ${ns.toFixed(0).padStart(6)} ns`);
