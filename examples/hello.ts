// The counter page of Raku's FastCGI::NativeCall synopsis, with libfcgi.
//   FCGI_SOCKET_PATH=/tmp/fastcgi.sock node --import tsx examples/hello.ts
import { FastCGI, type ListenOptions } from 'libfcgi';

function listenOptions(env = process.env): ListenOptions | undefined {
  if (env.FCGI_SOCKET_PATH) return { path: env.FCGI_SOCKET_PATH, backlog: 32 };
  if (env.FCGI_PORT) return { host: env.FCGI_HOST ?? '127.0.0.1', port: Number(env.FCGI_PORT), backlog: 32 };
  return undefined; // systemd's socket (LISTEN_FDS), else fd 0: spawn-fcgi, Apache mod_fcgid, lighttpd bin-path
}

const fcgi = new FastCGI(listenOptions());
let count = 0;
while (fcgi.accept()) {
  console.log(fcgi.env);
  fcgi.header({ 'Content-Type': 'text/html' });
  fcgi.print(`${++count}`);
}
