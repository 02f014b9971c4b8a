#!/usr/bin/env node
// The Node-listener adapter's own cost, in process: ServerRequests over a stand-in native side (no sockets),
// the Express bench app through fromNodeListener, N requests in flight at a time. Prints µs of JS per request.
// Usage: [MICRO_APP=plain] node bench/adapter-micro.js [hello|json] [N]   (plain: a bare (req, res) listener, hello only)   (node --cpu-prof bench/adapter-micro.js ... for a profile)
'use strict';
const { ServerRequest, fromNodeListener } = require(process.env.MICRO_LIB || '..'); // MICRO_LIB: another build's dist/ to compare
const app =
  process.env.MICRO_APP === 'plain'
    ? (req, res) => {
        res.setHeader('Content-Type', 'text/plain');
        res.end('Hello, world!');
      }
    : require('./apps/express-app');

const variant = process.argv[2] || 'hello';
const total = Number(process.argv[3] || 20000);
const inFlight = 16;
const json = Buffer.from(JSON.stringify({ items: Array.from({ length: 300 }, (_, i) => ({ id: i, name: `item-${i}`, ok: true })) }));

const nginxParams = (method, uri, length) =>
  [
    ['QUERY_STRING', ''],
    ['REQUEST_METHOD', method],
    ['CONTENT_TYPE', length ? 'application/json' : ''],
    ['CONTENT_LENGTH', length ? String(length) : ''],
    ['SCRIPT_NAME', uri],
    ['REQUEST_URI', uri],
    ['DOCUMENT_URI', uri],
    ['DOCUMENT_ROOT', '/usr/share/nginx/html'],
    ['SERVER_PROTOCOL', 'HTTP/1.1'],
    ['REQUEST_SCHEME', 'http'],
    ['GATEWAY_INTERFACE', 'CGI/1.1'],
    ['SERVER_SOFTWARE', 'nginx/1.22.1'],
    ['REMOTE_ADDR', '127.0.0.1'],
    ['REMOTE_PORT', '41234'],
    ['SERVER_ADDR', '127.0.0.1'],
    ['SERVER_PORT', '8080'],
    ['SERVER_NAME', 'localhost'],
    ['REDIRECT_STATUS', '200'],
    ['HTTP_HOST', '127.0.0.1:8080'],
    ...(length
      ? [
          ['HTTP_CONTENT_LENGTH', String(length)],
          ['HTTP_CONTENT_TYPE', 'application/json'],
        ]
      : []),
  ]
    .map(([k, v]) => `${k}=${v}`)
    .join('\0');
const params = variant === 'json' ? nginxParams('POST', '/express/kept/json', json.length) : nginxParams('GET', '/express/kept/hello', 0);

/**
 * The param index the addon sends with each request (native/request.cc IndexParams), built the same way here so
 * that param() and the headers take the path they take behind a real server. MICRO_NO_INDEX=1: without it.
 */
function paramIndex(joined) {
  const names = require(`${process.env.MICRO_LIB || '..'}/dist/native.js`).native.constants.indexedParams;
  if (!names || process.env.MICRO_NO_INDEX) return undefined;
  const k = names.length;
  const starts = Array(k).fill(0xffff);
  const ends = Array(k).fill(0xffff);
  const headers = [];
  let pos = 0;
  for (const entry of joined.split('\0')) {
    const eq = entry.indexOf('=');
    if (eq >= 0) {
      const i = names.indexOf(entry.slice(0, eq));
      if (i >= 0 && starts[i] === 0xffff) {
        starts[i] = pos + eq + 1;
        ends[i] = pos + entry.length;
      }
      if (eq > 5 && entry.startsWith('HTTP_')) headers.push(pos, pos + eq, pos + entry.length);
    }
    pos += entry.length + 1;
  }
  return String.fromCharCode(k, ...starts, ...ends, ...headers);
}
const index = paramIndex(params);

const io = {
  write() {},
  end() {
    done();
  },
  flush() {},
  watchPeer() {},
  writeError(_id, s) {
    process.stderr.write(String(s));
  },
  read() {},
};
const host = { io, bodyLimit: 1 << 20, highWaterMark: 1 << 20, requestDone() {} };
const handler = fromNodeListener(app);

let started = 0;
let finished = 0;
let t0;
let cpu0;
function run(req) {
  // As Server#run does, minus the scheduled flush (the stand-in io has nothing to flush to).
  const result = handler(req);
  result.then(
    () => req.finish(),
    (err) => {
      console.error(err);
      req.fail(err);
    },
  );
}
function startOne() {
  const n = started++;
  const req =
    variant === 'json'
      ? new ServerRequest(host, n % 64, n, params, 'RESPONDER', json, true, index)
      : new ServerRequest(host, n % 64, n, params, 'RESPONDER', undefined, false, index);
  run(req);
}
function done() {
  finished++;
  if (finished === 2000) {
    // after a warm-up
    t0 = process.hrtime.bigint();
    cpu0 = process.cpuUsage();
  }
  if (finished === total) {
    const n = total - 2000;
    const us = Number(process.hrtime.bigint() - t0) / 1000 / n;
    const c = process.cpuUsage(cpu0);
    const heap = process.memoryUsage().heapUsed;
    console.log(
      `${variant}: ${us.toFixed(1)} µs/request wall, ${((c.user + c.system) / n).toFixed(1)} µs CPU (${n} requests, ${inFlight} in flight, heap ${(heap / 1e6).toFixed(0)} MB)`,
    );
    return;
  }
  if (started < total) setImmediate(startOne);
}
for (let i = 0; i < inFlight; i++) startOne();
