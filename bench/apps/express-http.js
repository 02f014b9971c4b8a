// The same Express app on Node's own http server, the baseline behind nginx proxy_pass (keepalive).
// Usage: node express-http.js SOCKET_PATH
'use strict';
const http = require('http');
const app = require('./express-app');

const server = http.createServer(app);
server.keepAliveTimeout = 120_000; // nginx keeps idle upstream connections: do not close them first
server.listen(process.argv[2]);
process.on('SIGTERM', () => server.close(() => process.exit(0)));
