// Receives an upload of any size in 64 KiB pieces and answers with its size and SHA-256, never holding it whole.
//   FCGI_SOCKET_PATH=/tmp/upload.sock node --import tsx examples/upload.ts
//   curl --data-binary @big.iso http://localhost/upload
import { createHash } from 'crypto';
import { FastCGI } from 'libfcgi';
import { listenOptionsFromEnv } from './listen-from-env';

const fcgi = new FastCGI(listenOptionsFromEnv());
while (fcgi.accept()) {
  const hash = createHash('sha256');
  let size = 0;
  for (let chunk = fcgi.read(65536); chunk.length > 0; chunk = fcgi.read(65536)) {
    hash.update(chunk);
    size += chunk.length;
  }
  fcgi.header({ 'Content-Type': 'application/json' });
  fcgi.print(`${JSON.stringify({ size, sha256: hash.digest('hex') })}\n`);
}
