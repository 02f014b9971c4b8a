// The baseline of adapter-micro.js: the same Express app (or MICRO_APP=plain listener) on Node's http.Server, fed
// requests through 16 in-memory Duplex connections (keep-alive). Usage: node bench/node-http-micro.js [hello|json] [N]
'use strict';
const http = require('http');
const { Duplex } = require('stream');
const app =
  process.env.MICRO_APP === 'plain'
    ? (req, res) => {
        res.setHeader('Content-Type', 'text/plain');
        res.end('Hello, world!');
      }
    : require('./apps/express-app');
const variant = process.argv[2] || 'hello';
const total = Number(process.argv[3] || 20000);
const json = Buffer.from(JSON.stringify({ items: Array.from({ length: 300 }, (_, i) => ({ id: i, name: `item-${i}`, ok: true })) }));
const reqBytes =
  variant === 'json'
    ? Buffer.concat([
        Buffer.from(
          `POST /express/kept/json HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nContent-Type: application/json\r\nContent-Length: ${json.length}\r\nConnection: keep-alive\r\n\r\n`,
        ),
        json,
      ])
    : Buffer.from('GET /express/kept/hello HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nConnection: keep-alive\r\n\r\n');
const server = http.createServer(app);
let finished = 0,
  t0,
  cpu0;
class Conn extends Duplex {
  _read() {}
  _write(chunk, enc, cb) {
    cb();
  }
  _writev(chunks, cb) {
    this.gotResponse();
    cb();
  }
  gotResponse() {
    finished++;
    if (finished === 2000) {
      t0 = process.hrtime.bigint();
      cpu0 = process.cpuUsage();
    }
    if (finished === total) {
      const c = process.cpuUsage(cpu0);
      console.log(
        `node-http ${variant}: ${(Number(process.hrtime.bigint() - t0) / 1000 / (total - 2000)).toFixed(1)} µs/request wall, ${((c.user + c.system) / (total - 2000)).toFixed(1)} µs CPU`,
      );
      process.exit(0);
    }
    setImmediate(() => this.push(reqBytes));
  }
}
// one response = one write (head+body) for these apps
Conn.prototype._write = function (chunk, enc, cb) {
  if (chunk.length > 0) this.gotResponse();
  cb();
};
Conn.prototype._writev = undefined;
for (let i = 0; i < 16; i++) {
  const c = new Conn();
  c.remoteAddress = '127.0.0.1';
  server.emit('connection', c);
  c.push(reqBytes);
}
