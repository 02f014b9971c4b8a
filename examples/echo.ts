// A test and demo app: echoes the request, and shows status, repeated headers, UTF-8 and a large streamed body.
//   FCGI_SOCKET_PATH=/tmp/echo.sock node --import tsx examples/echo.ts
//
//   /echo      the request body, byte-exact, as the response body (method and query in X-Echo-* headers)
//   /missing   404 via status()
//   /cookies   two Set-Cookie fields from one array
//   /utf8      a UTF-8 text body
//   /big       10 MiB, printed in 64 KiB chunks (chunk i is filled with the text "<i>:")
//   otherwise  a text summary of the request: method, URI, query, a few params, body size
import { FastCGI } from 'libfcgi';
import { listenOptionsFromEnv } from './listen-from-env';

const UTF8_TEXT = 'Grüße aus Köln — κόσμε — こんにちは — 🦀\n';
const BIG_CHUNK_SIZE = 64 * 1024;
const BIG_CHUNKS = 160; // 10 MiB

const fcgi = new FastCGI(listenOptionsFromEnv());
while (fcgi.accept()) {
  const method = fcgi.param('REQUEST_METHOD') ?? 'GET';
  const uri = fcgi.param('REQUEST_URI') ?? '/';
  const path = fcgi.param('DOCUMENT_URI') ?? uri.split('?')[0];
  const query = new URLSearchParams(fcgi.param('QUERY_STRING') ?? '');

  switch (path) {
    case '/echo': {
      const body = fcgi.read(); // all of FCGI_STDIN
      fcgi.header({
        'Content-Type': fcgi.param('CONTENT_TYPE') || 'application/octet-stream',
        'Content-Length': body.length,
        'X-Echo-Method': method,
        'X-Echo-Query': JSON.stringify(Object.fromEntries(query)),
      });
      fcgi.print(body);
      break;
    }
    case '/missing':
      fcgi.status(404).header({ 'Content-Type': 'text/plain' });
      fcgi.print(`no such page: ${path}\n`);
      break;
    case '/cookies':
      fcgi.header({ 'Content-Type': 'text/plain', 'Set-Cookie': ['a=1; Path=/', 'b=2; Path=/; HttpOnly'] });
      fcgi.print('two cookies\n');
      break;
    case '/utf8':
      fcgi.header({ 'Content-Type': 'text/plain; charset=utf-8' });
      fcgi.print(UTF8_TEXT);
      break;
    case '/big':
      fcgi.header({ 'Content-Type': 'application/octet-stream', 'Content-Length': BIG_CHUNK_SIZE * BIG_CHUNKS });
      for (let i = 0; i < BIG_CHUNKS; i++) fcgi.print(Buffer.alloc(BIG_CHUNK_SIZE, `${i}:`));
      break;
    default: {
      const body = fcgi.read();
      fcgi.header({ 'Content-Type': 'text/plain; charset=utf-8' });
      fcgi.print(
        [
          `method: ${method}`,
          `uri: ${uri}`,
          `query: ${JSON.stringify(Object.fromEntries(query))}`,
          `server: ${fcgi.param('SERVER_SOFTWARE') ?? ''}`,
          `remote: ${fcgi.param('REMOTE_ADDR') ?? ''}`,
          `content-type: ${fcgi.param('CONTENT_TYPE') ?? ''}`,
          `body: ${body.length} bytes`,
          '',
        ].join('\n'),
      );
    }
  }
}
