// node-fastcgi (npm, pure JavaScript): the http-compatible FastCGI server most Node users find first.
// Usage: node node-fastcgi.js SOCKET_PATH
'use strict';
const fcgi = require('node-fastcgi');
const { listener } = require('./node-http-listener');

const server = fcgi.createServer(listener);
server.listen(process.argv[2]);
process.on('SIGTERM', () => server.close(() => process.exit(0)));
