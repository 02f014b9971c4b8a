#!/usr/bin/env node
// What the concurrent server costs on the JS thread per request, without the addon: requests are fired as the
// addon's callback fires them (nginx's params, 64 in flight per macrotask), the handler answers, and the end
// command is counted. No syscalls, no threads: the JavaScript side alone (event → ServerRequest → handler →
// finish), for the handler styles bench/run.js measures behind nginx. Best of 10 interleaved batches, in µs.
// Usage: node bench/server-micro.js [--package DIR]   (DIR: another build of the package, e.g. an older commit's)
'use strict';
const path = require('path');

const pkg = process.argv[2] === '--package' ? path.resolve(process.argv[3]) : path.join(__dirname, '..');
const lib = require(pkg);
const { kNativeFactory } = require(path.join(pkg, 'dist/symbols.js'));
const { ServerEventKind } = require(path.join(pkg, 'dist/native.js'));

const nginx = require('../test/helpers/nginx-fastcgi-params.json');
const sample = {
  REQUEST_METHOD: 'GET',
  SERVER_PROTOCOL: 'HTTP/1.1',
  REQUEST_SCHEME: 'http',
  GATEWAY_INTERFACE: 'CGI/1.1',
  SERVER_SOFTWARE: 'nginx/1.22.1',
  REMOTE_ADDR: '127.0.0.1',
  SERVER_ADDR: '127.0.0.1',
  SERVER_PORT: '8080',
  SERVER_NAME: 'localhost',
  DOCUMENT_ROOT: '/srv/www',
  REDIRECT_STATUS: '200',
};
function joinedParams(i) {
  const uri = '/app/kept/hello';
  const values = { ...sample, REQUEST_URI: uri, SCRIPT_NAME: uri, DOCUMENT_URI: uri, REMOTE_PORT: String(40000 + (i % 20000)) };
  const pairs = nginx.filter(([n]) => n !== 'HTTPS').map(([n]) => `${n}=${values[n] ?? ''}`);
  pairs.push('HTTP_HOST=127.0.0.1:8080', 'HTTP_USER_AGENT=wrk');
  return Buffer.from(pairs.join('\0'), 'latin1').toString('latin1'); // flat, as the addon makes it
}
const inputs = Array.from({ length: 256 }, (_, i) => joinedParams(i));

/** A native side that answers nothing and counts ends. */
function fakeServer(handler) {
  let onEvent;
  let ends = 0;
  const io = {
    start() {},
    stopAccepting() {},
    interrupt() {},
    join() {},
    ref() {},
    unref() {},
    address: () => ({ path: '/fake' }),
    stats: () => ({ idle: 0, queued: 0, refusedByLimits: 0, refusedByGate: 0 }),
    write() {},
    writeError() {},
    flush() {},
    read() {},
    watchPeer() {},
    end() {
      ends++;
    },
  };
  const factory = (_source, _concurrency, cb) => {
    onEvent = cb;
    return io;
  };
  const server = new lib.Server(handler, { handleSignals: false, concurrency: 64, [kNativeFactory]: factory });
  server.listen({ path: '/nonexistent/fake.sock' });
  let gen = 0;
  return {
    async batch(n) {
      const before = ends;
      for (let i = 0; i < n; i++) {
        const slot = i % 64;
        if (slot === 0) gen++;
        onEvent(ServerEventKind.Request, slot, gen, inputs[(gen * 64 + slot) & 255], 'RESPONDER', undefined, undefined);
        if (slot === 63) await new Promise(setImmediate); // the next macrotask: async handlers have ended
      }
      await new Promise(setImmediate);
      if (ends - before !== n) throw new Error(`${ends - before} of ${n} requests ended`);
    },
  };
}

const text = { 'Content-Type': 'text/plain' };
const handlers = {
  'sync, param()': (req) => {
    const uri = req.param('REQUEST_URI') || '';
    req.header(text);
    req.print(uri.endsWith('hello') ? 'Hello, world!' : 'other');
  },
  'async, param()': async (req) => {
    const uri = req.param('REQUEST_URI') || '';
    req.header(text);
    req.print(uri.endsWith('hello') ? 'Hello, world!' : 'other');
  },
  'sync, req.env': (req) => {
    const uri = req.env.REQUEST_URI ?? '/';
    req.header(text);
    req.print(uri.endsWith('hello') ? 'Hello, world!' : 'other');
  },
  'async, req.env (README)': async (req) => {
    const uri = req.env.REQUEST_URI ?? '/';
    req.header(text);
    req.print(uri.endsWith('hello') ? 'Hello, world!' : 'other');
  },
};

async function main() {
  const servers = Object.fromEntries(Object.entries(handlers).map(([name, h]) => [name, fakeServer(h)]));
  const N = 64 * 400;
  const best = {};
  for (let round = 0; round < 10; round++) {
    for (const [name, s] of Object.entries(servers)) {
      const t0 = process.hrtime.bigint();
      await s.batch(N);
      const us = Number(process.hrtime.bigint() - t0) / N / 1000;
      best[name] = Math.min(best[name] ?? Infinity, us);
    }
  }
  console.log(`${pkg}: JS thread per request, no addon; load average ${require('os').loadavg()[0].toFixed(2)}`);
  const base = best['sync, param()'];
  for (const [name, us] of Object.entries(best)) {
    console.log(`  ${name.padEnd(26)} ${us.toFixed(2).padStart(6)} µs  (${(us / base).toFixed(2)}× sync, param())`);
  }
  process.exit(0);
}
main().catch((err) => {
  console.error(err);
  process.exit(1);
});
