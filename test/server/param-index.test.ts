// The param index the concurrent server sends with each request (native/request.cc IndexParams): where the
// params the adapters read sit in the joined string, so ServerRequest.param() and the adapters' header list
// slice instead of searching. Whatever the params look like, the answers must be env's: first occurrence wins,
// empty values stay '', names that merely start like an indexed one are not it, and past 64 KiB of params
// (offsets would not fit) everything still works without an index. (A name holding '=' or NUL, or a value holding
// NUL, never reaches JS: fcgi2 refuses the request, ext/UPSTREAM.md.)
import path from 'path';
import { createServer, type Server, type ServerRequest } from '../../lib';
import { envParams, rawHeaders, requestParams } from '../../lib/adapters/cgi-http';
import { FastCGIClient } from '../../lib/client';
import { native } from '../../lib/native';
import { kParamIndex } from '../../lib/symbols';
import { makeTempDir } from '../helpers/tmp';

const indexed = native.constants.indexedParams ?? [];

interface Seen {
  indexed: boolean;
  viaParam: (string | null)[];
  viaEnv: (string | null)[];
  headers: string[];
  headersFromEnv: string[];
}

describe('createServer: the param index', () => {
  let server: Server;
  let sock: string;
  beforeAll(async () => {
    sock = path.join(makeTempDir('fcgi-index-'), 'app.sock');
    server = createServer(
      (req: ServerRequest) => {
        // param() and the headers first: reading env makes param() answer from env instead.
        const seen: Seen = {
          indexed: typeof req[kParamIndex] === 'string',
          viaParam: indexed.map((name) => req.param(name) ?? null),
          headers: rawHeaders(requestParams(req)),
          viaEnv: [],
          headersFromEnv: [],
        };
        seen.viaEnv = indexed.map((name) => req.env[name] ?? null);
        seen.headersFromEnv = rawHeaders(envParams(req.env));
        req.print(`Content-Type: application/json\r\n\r\n${JSON.stringify(seen)}`);
      },
      { handleSignals: false },
    );
    await server.listen({ path: sock });
  });
  afterAll(() => server.close());

  async function seenFor(params: [string, string][]): Promise<Seen> {
    const client = await FastCGIClient.connect({ path: sock }, { timeout: 20000 });
    try {
      const { stdout } = await client.request({ params }).response();
      const text = stdout.toString('latin1');
      return JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)) as Seen;
    } finally {
      await client.close();
    }
  }

  test('the addon lists the indexed params, and a request comes with its index', async () => {
    expect(indexed).toEqual(expect.arrayContaining(['REQUEST_METHOD', 'REQUEST_URI', 'CONTENT_LENGTH', 'HTTP_HOST', 'REMOTE_ADDR']));
    const seen = await seenFor([['REQUEST_METHOD', 'GET']]);
    expect(seen.indexed).toBe(true);
  });

  test('every indexed param answers as env does: values, empty values, absent ones, the first of a repeated name', async () => {
    const params: [string, string][] = [
      ['REQUEST_METHOD_X', 'not the method'],
      ['HTTP_HOSTNAME', 'not the host'],
      ['REQUEST_METHOD', 'POST'],
      ['REQUEST_URI', '/a/b?c=d'],
      ['CONTENT_TYPE', ''],
      ['CONTENT_LENGTH', '12'],
      ['HTTP_HOST', 'first.example'],
      ['HTTP_COOKIE', 'a=1; b=2'],
      ['HTTPS', 'on'],
      ['SERVER_PORT', '8443'],
      ['REMOTE_ADDR', '::1'],
      ['REMOTE_PORT', '51000'],
      ['QUERY_STRING', 'c=d'],
      ['HTTP_HOST', 'second.example'],
      ['REQUEST_METHOD', 'DELETE'],
      ['HTTP_X_EMPTY', ''],
      ['HTTP_CONTENT_TYPE', 'text/plain'],
      ['HTTP_ACCEPT', '*/*'],
    ];
    const seen = await seenFor(params);
    expect(seen.indexed).toBe(true);
    expect(seen.viaParam).toEqual(seen.viaEnv);
    const byName = Object.fromEntries(indexed.map((name, k) => [name, seen.viaParam[k]]));
    expect(byName).toMatchObject({
      REQUEST_METHOD: 'POST',
      REQUEST_URI: '/a/b?c=d',
      CONTENT_TYPE: '',
      CONTENT_LENGTH: '12',
      HTTP_HOST: 'first.example',
      HTTPS: 'on',
      REMOTE_PORT: '51000',
      SCRIPT_NAME: null,
      PATH_INFO: null,
    });
    expect(seen.headers).toEqual(seen.headersFromEnv);
    expect(seen.headers).toEqual([
      'Hostname',
      'not the host',
      'Host',
      'first.example',
      'Cookie',
      'a=1; b=2',
      'X-Empty',
      '',
      'Accept',
      '*/*',
      'Content-Length',
      '12',
    ]);
  });

  test('params of 64 KiB and more: no index (offsets would not fit), the same answers by search', async () => {
    const seen = await seenFor([
      ['HTTP_X_BIG', 'b'.repeat(70_000)],
      ['REQUEST_METHOD', 'PUT'],
      ['HTTP_HOST', 'h'],
    ]);
    expect(seen.indexed).toBe(false);
    expect(seen.viaParam).toEqual(seen.viaEnv);
    expect(seen.viaParam[indexed.indexOf('REQUEST_METHOD')]).toBe('PUT');
    expect(seen.headers).toEqual(seen.headersFromEnv);
  });
});
