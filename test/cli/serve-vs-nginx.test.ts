// The params an app sees through `libfcgi serve` are the ones nginx (Debian's fastcgi_params) sends for the same
// request: nginx is put in front of the very socket libfcgi serve created, and the same requests go through both.
import http from 'http';
import fs from 'fs';
import { describeWithBinaries } from '../helpers/binaries';
import { closeAfterEach } from '../helpers/cleanup';
import { startNginx } from '../helpers/nginx';
import { makeTempDir } from '../helpers/tmp';
import { FIXTURE_APP, startServe, type FixtureAnswer } from './cli';

/**
 * Params that differ by configuration, not by translation: each server has its own port (SERVER_PORT), the
 * client a new ephemeral port per connection (REMOTE_PORT), and each names its own software.
 */
const DIFFERENT_BY_CONFIGURATION = ['SERVER_SOFTWARE', 'SERVER_PORT', 'REMOTE_PORT'];
/** Params only libfcgi serve sends: nginx sends PATH_INFO only with fastcgi_split_path_info (then empty here too). */
const ONLY_LIBFCGI = ['PATH_INFO'];

interface Case {
  title: string;
  method: string;
  target: string;
  headers?: Record<string, string>;
  /** An array is sent chunked (no Content-Length). */
  body?: string | string[];
}

const CASES: Case[] = [
  {
    title: 'GET with a query string and assorted headers',
    method: 'GET',
    target: '/shop/items/42?colour=red&fit=%20M&tags=a+b',
    headers: {
      'User-Agent': 'libfcgi-cli-test/1.0',
      Accept: 'text/html,application/json;q=0.9',
      'Accept-Language': 'de-CH, en;q=0.5',
      Cookie: 'session=abc123; theme=dark',
      'X-Forwarded-For': '203.0.113.9',
      'X-Custom-Header': 'value with  two spaces',
      Referer: 'http://localhost/shop',
    },
  },
  { title: 'a path with escapes, empty and dot segments', method: 'GET', target: '/a/./b/../c%20d//e%2Ff/?' },
  { title: 'a path with a trailing slash and no query', method: 'GET', target: '/dir/' },
  {
    title: 'POST with a form body',
    method: 'POST',
    target: '/form/submit?from=test',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', Origin: 'http://localhost' },
    body: 'name=J%C3%BCrg&age=40',
  },
  {
    title: 'POST with a chunked body',
    method: 'POST',
    target: '/upload',
    headers: { 'Content-Type': 'application/octet-stream' },
    body: ['first chunk,', ' second chunk'],
  },
  { title: 'PUT with an empty body and Content-Length: 0', method: 'PUT', target: '/things/1', headers: { 'Content-Length': '0' } },
  { title: 'DELETE', method: 'DELETE', target: '/things/1?force=1' },
];

/** Sends `c` to 127.0.0.1:port with Host "localhost" (both servers then derive SERVER_NAME/HTTP_HOST alike). */
function send(port: number, c: Case): Promise<FixtureAnswer> {
  return new Promise((resolve, reject) => {
    const request = http.request(
      { host: '127.0.0.1', port, path: c.target, method: c.method, headers: { Host: 'localhost', ...c.headers }, agent: false },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          try {
            if (response.statusCode !== 200) throw new Error(`status ${response.statusCode}`);
            resolve(JSON.parse(text) as FixtureAnswer);
          } catch (err) {
            reject(new Error(`${c.method} ${c.target} via port ${port}: ${(err as Error).message}: ${text}`));
          }
        });
        response.on('error', reject);
      },
    );
    request.setTimeout(10000, () => request.destroy(new Error(`${c.method} ${c.target}: no response`)));
    request.on('error', reject);
    if (Array.isArray(c.body)) {
      for (const chunk of c.body) request.write(chunk);
      request.end();
    } else {
      request.end(c.body);
    }
  });
}

describeWithBinaries(['nginx'])('libfcgi serve sends the params nginx sends', () => {
  const track = closeAfterEach();

  test.each(CASES.map((c) => [c.title, c] as const))('%s', async (_title, c) => {
    const docRoot = makeTempDir('fcgi-cli-root-');
    track({ close: () => fs.rmSync(docRoot, { recursive: true, force: true }) });
    const serve = track(await startServe(['--workers', '1', '--document-root', docRoot, FIXTURE_APP]));
    const nginx = track(await startNginx({ upstream: { path: serve.socketPath as string }, root: docRoot }));

    const viaNginx = await send(nginx.port, c);
    const viaServe = await send(Number(new URL(serve.url).port), c);
    expect(viaServe.pid).toBe(viaNginx.pid); // the same app process answered both

    const fromNginx = { ...viaNginx.env };
    const fromServe = { ...viaServe.env };
    for (const name of ONLY_LIBFCGI) {
      expect(fromNginx).not.toHaveProperty(name);
      expect(fromServe).toHaveProperty(name);
      delete fromServe[name];
    }
    for (const name of DIFFERENT_BY_CONFIGURATION) {
      expect(fromNginx[name]).toBeDefined();
      expect(fromServe[name]).toBeDefined();
      delete fromNginx[name];
      delete fromServe[name];
    }
    // Field by field, over the union of both: a param only one of them sends fails here too.
    expect(fromServe).toEqual(fromNginx);
    expect(viaServe.bodyMd5).toBe(viaNginx.bodyMd5);
    // Spot checks that the comparison covers what matters.
    expect(Object.keys(fromServe)).toEqual(
      expect.arrayContaining([
        'REQUEST_METHOD',
        'QUERY_STRING',
        'REQUEST_URI',
        'DOCUMENT_URI',
        'SCRIPT_NAME',
        'SCRIPT_FILENAME',
        'DOCUMENT_ROOT',
        'CONTENT_TYPE',
        'CONTENT_LENGTH',
        'SERVER_PROTOCOL',
        'GATEWAY_INTERFACE',
        'REQUEST_SCHEME',
        'SERVER_NAME',
        'SERVER_ADDR',
        'REMOTE_ADDR',
        'HTTP_HOST',
        'REDIRECT_STATUS',
      ]),
    );
  });
});
