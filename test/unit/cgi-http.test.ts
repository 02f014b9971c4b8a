// The CGI -> HTTP mapping the adapters share: method, URL, mount prefix, scheme, host, headers, peer.
import {
  canonicalHeaderName,
  cgiToHttp,
  envParams,
  httpVersion,
  normalizeMountPath,
  rawHeaders,
  requestHost,
  requestHref,
  requestParams,
  requestScheme,
  requestTarget,
  unmount,
} from '../../lib/adapters/cgi-http';
import { findParam, parseParams } from '../../lib/env';
import { kJoinedParams } from '../../lib/symbols';

const get = (env: Record<string, string>) => (name: string) => env[name];

describe('request target', () => {
  test('REQUEST_URI is used as sent (still percent-encoded, with its query)', () => {
    expect(requestTarget(get({ REQUEST_URI: '/a%20b/c?x=1&y=%2F', SCRIPT_NAME: '/a b/c', QUERY_STRING: 'x=1&y=%2F' }))).toBe(
      '/a%20b/c?x=1&y=%2F',
    );
  });
  test('without REQUEST_URI: SCRIPT_NAME + PATH_INFO + ? QUERY_STRING, re-encoded', () => {
    expect(requestTarget(get({ SCRIPT_NAME: '/app', PATH_INFO: '/a b/?#%', QUERY_STRING: 'q=1' }))).toBe('/app/a%20b/%3F%23%25?q=1');
    expect(requestTarget(get({ SCRIPT_NAME: '/app', PATH_INFO: '' }))).toBe('/app');
    expect(requestTarget(get({}))).toBe('/');
    expect(requestTarget(get({ QUERY_STRING: 'a=1' }))).toBe('/?a=1');
  });
  test('bytes outside ASCII (params are latin1 strings) are percent-encoded byte by byte, so UTF-8 stays UTF-8', () => {
    const utf8AsLatin1 = Buffer.from('/é ü', 'utf8').toString('latin1');
    expect(requestTarget(get({ REQUEST_URI: utf8AsLatin1 }))).toBe('/%C3%A9%20%C3%BC');
    expect(requestTarget(get({ SCRIPT_NAME: utf8AsLatin1 }))).toBe('/%C3%A9%20%C3%BC');
    expect(new URL(`http://h${requestTarget(get({ REQUEST_URI: utf8AsLatin1 }))}`).pathname).toBe(encodeURI('/é ü'));
  });
  test('an absolute-form REQUEST_URI keeps only its path and query', () => {
    expect(requestTarget(get({ REQUEST_URI: 'http://evil.example/x?y=1' }))).toBe('/x?y=1');
    expect(requestTarget(get({ REQUEST_URI: 'http://evil.example?y=1' }))).toBe('/?y=1');
    expect(requestTarget(get({ REQUEST_URI: 'http://evil.example' }))).toBe('/');
  });
});

describe('mount prefix', () => {
  test('normalizeMountPath: none, trailing slash, and bad values', () => {
    expect(normalizeMountPath(undefined)).toBe('');
    expect(normalizeMountPath('/')).toBe('');
    expect(normalizeMountPath('/app/')).toBe('/app');
    expect(() => normalizeMountPath('app')).toThrow(expect.objectContaining({ name: 'TypeError', code: 'ERR_INVALID_ARG_VALUE' }));
    expect(() => normalizeMountPath('/a?b')).toThrow(/mountPath/);
    expect(() => normalizeMountPath(3)).toThrow(expect.objectContaining({ name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' }));
  });
  test('the prefix is cut at a path-segment boundary only', () => {
    expect(unmount('/app/users?x=1', '/app')).toEqual(['/users?x=1', '/app']);
    expect(unmount('/app', '/app')).toEqual(['/', '/app']);
    expect(unmount('/app?x=1', '/app')).toEqual(['/?x=1', '/app']);
    expect(unmount('/application', '/app')).toEqual(['/application', '']);
    expect(unmount('/other', '/app')).toEqual(['/other', '']);
    expect(unmount('/x', '')).toEqual(['/x', '']);
  });
  test('nginx (SCRIPT_NAME = whole path, PATH_INFO empty) and Apache (SCRIPT_NAME = prefix) give the same url', () => {
    const nginx = { REQUEST_URI: '/app/users/7?full=1', SCRIPT_NAME: '/app/users/7', PATH_INFO: '', QUERY_STRING: 'full=1' };
    const apache = { REQUEST_URI: '/app/users/7?full=1', SCRIPT_NAME: '/app', PATH_INFO: '/users/7', QUERY_STRING: 'full=1' };
    for (const env of [nginx, apache]) {
      expect(cgiToHttp(envParams(env), '/app')).toMatchObject({ url: '/users/7?full=1', baseUrl: '/app' });
      expect(cgiToHttp(envParams(env))).toMatchObject({ url: '/app/users/7?full=1', baseUrl: '' });
    }
  });
});

describe('scheme and host', () => {
  test('HTTPS on/1 (any case) means https; off/0/empty do not; else REQUEST_SCHEME', () => {
    expect(requestScheme(get({ HTTPS: 'on' }))).toBe('https');
    expect(requestScheme(get({ HTTPS: 'ON' }))).toBe('https');
    expect(requestScheme(get({ HTTPS: '1' }))).toBe('https');
    expect(requestScheme(get({ HTTPS: 'off', REQUEST_SCHEME: 'https' }))).toBe('http');
    expect(requestScheme(get({ HTTPS: '', REQUEST_SCHEME: 'https' }))).toBe('https');
    expect(requestScheme(get({ REQUEST_SCHEME: 'http' }))).toBe('http');
    expect(requestScheme(get({}))).toBe('http');
  });
  test('HTTP_HOST wins; else SERVER_NAME with SERVER_PORT unless it is the default port', () => {
    expect(requestHost(get({ HTTP_HOST: 'example.com:8080', SERVER_NAME: 'x' }), 'http')).toBe('example.com:8080');
    expect(requestHost(get({ SERVER_NAME: 'example.com', SERVER_PORT: '80' }), 'http')).toBe('example.com');
    expect(requestHost(get({ SERVER_NAME: 'example.com', SERVER_PORT: '443' }), 'https')).toBe('example.com');
    expect(requestHost(get({ SERVER_NAME: 'example.com', SERVER_PORT: '443' }), 'http')).toBe('example.com:443');
    expect(requestHost(get({ SERVER_NAME: 'example.com', SERVER_PORT: '8080' }), 'http')).toBe('example.com:8080');
    expect(requestHost(get({ SERVER_NAME: '::1', SERVER_PORT: '8080' }), 'http')).toBe('[::1]:8080');
    expect(requestHost(get({}), 'http')).toBe('localhost');
  });
  test('a Host header that is not a plain host[:port] is not trusted', () => {
    expect(requestHost(get({ HTTP_HOST: 'evil.example/path', SERVER_NAME: 'good.example', SERVER_PORT: '80' }), 'http')).toBe(
      'good.example',
    );
    expect(requestHost(get({ HTTP_HOST: 'a@evil.example', SERVER_NAME: 'good.example' }), 'http')).toBe('good.example');
    expect(requestHost(get({ HTTP_HOST: '[::1]:81' }), 'http')).toBe('[::1]:81');
  });
  test('href puts them together', () => {
    expect(requestHref(get({ HTTPS: 'on', HTTP_HOST: 'h.example', REQUEST_URI: '/p?q=1' }))).toBe('https://h.example/p?q=1');
    expect(requestHref(get({ SERVER_NAME: 'h', SERVER_PORT: '81', REQUEST_URI: '/' }))).toBe('http://h:81/');
  });
});

describe('headers', () => {
  test('canonical case: X-Forwarded-For, ETag, WWW-Authenticate, DNT, Content-MD5, Sec-WebSocket-Key', () => {
    expect(canonicalHeaderName('HTTP_X_FORWARDED_FOR')).toBe('X-Forwarded-For');
    expect(canonicalHeaderName('HTTP_ACCEPT')).toBe('Accept');
    expect(canonicalHeaderName('HTTP_IF_NONE_MATCH')).toBe('If-None-Match');
    expect(canonicalHeaderName('HTTP_ETAG')).toBe('ETag');
    expect(canonicalHeaderName('HTTP_WWW_AUTHENTICATE')).toBe('WWW-Authenticate');
    expect(canonicalHeaderName('HTTP_DNT')).toBe('DNT');
    expect(canonicalHeaderName('HTTP_CONTENT_MD5')).toBe('Content-MD5');
    expect(canonicalHeaderName('HTTP_SEC_WEBSOCKET_KEY')).toBe('Sec-WebSocket-Key');
    expect(canonicalHeaderName('HTTP_TE')).toBe('TE');
  });
  test('underscores and dashes cannot be told apart: HTTP_X_FOO is always X-Foo', () => {
    expect(canonicalHeaderName('HTTP_X_FOO')).toBe('X-Foo');
  });
  test('HTTP_* in the order sent; CONTENT_TYPE/CONTENT_LENGTH win over their HTTP_ duplicates, never two values', () => {
    const env = {
      REQUEST_METHOD: 'POST',
      CONTENT_TYPE: 'multipart/form-data; boundary=x',
      CONTENT_LENGTH: '12',
      HTTP_HOST: 'h',
      HTTP_CONTENT_TYPE: 'text/plain',
      HTTP_CONTENT_LENGTH: '99',
      HTTP_COOKIE: 'a=1',
      HTTP_X_REQUESTED_WITH: 'fetch',
      HTTPS: 'on',
    };
    expect(rawHeaders(envParams(env))).toEqual([
      'Host',
      'h',
      'Cookie',
      'a=1',
      'X-Requested-With',
      'fetch',
      'Content-Type',
      'multipart/form-data; boundary=x',
      'Content-Length',
      '12',
    ]);
  });
  test('empty CONTENT_TYPE/CONTENT_LENGTH (nginx on a GET) give no header', () => {
    expect(rawHeaders(envParams({ CONTENT_TYPE: '', CONTENT_LENGTH: '', HTTP_CONTENT_TYPE: 'x', HTTP_ACCEPT: '*/*' }))).toEqual([
      'Accept',
      '*/*',
    ]);
  });
  test('a bare "HTTP_" name and non-HTTP_ variables are not headers', () => {
    expect(rawHeaders(envParams({ HTTP_: 'x', HTTPS: 'on', PATH: '/bin', SERVER_NAME: 's' }))).toEqual([]);
  });
  test('from a ServerRequest: the joined params are read directly, env is never built, and the result is the same', () => {
    const joined = [
      'REQUEST_METHOD=POST',
      'HTTP_HOST=h',
      'HTTP_CONTENT_TYPE=text/plain',
      'CONTENT_TYPE=application/json',
      'HTTP_',
      'HTTP_=x',
      'NOEQUALS',
      'HTTP_COOKIE=a=1; b=2',
      'HTTPS=on',
      'HTTP_COOKIE=second',
      'HTTP_X_EMPTY=',
      'CONTENT_LENGTH=2',
      'HTTP_ACCEPT=*/*',
    ].join('\0');
    const env = parseParams(joined);
    let envBuilt = false;
    const req = {
      [kJoinedParams]: joined,
      param: (name: string) => findParam(joined, name),
      get env() {
        envBuilt = true;
        return env;
      },
    };
    const viaJoined = rawHeaders(requestParams(req));
    expect(envBuilt).toBe(false);
    expect(viaJoined).toEqual(rawHeaders(envParams(env)));
    expect(viaJoined).toEqual([
      'Host',
      'h',
      'Cookie',
      'a=1; b=2',
      'X-Empty',
      '',
      'Accept',
      '*/*',
      'Content-Type',
      'application/json',
      'Content-Length',
      '2',
    ]);
  });
});

describe('cgiToHttp', () => {
  test('method, version and peer', () => {
    const info = cgiToHttp(
      envParams({
        REQUEST_METHOD: 'PUT',
        SERVER_PROTOCOL: 'HTTP/2.0',
        REMOTE_ADDR: '::1',
        REMOTE_PORT: '51000',
        SERVER_ADDR: '127.0.0.1',
        SERVER_PORT: '8080',
      }),
    );
    expect(info).toMatchObject({
      method: 'PUT',
      httpVersion: '2.0',
      remoteAddress: '::1',
      remotePort: 51000,
      localAddress: '127.0.0.1',
      localPort: 8080,
    });
  });
  test('defaults when variables are missing or malformed', () => {
    const info = cgiToHttp(envParams({ REMOTE_PORT: 'x', SERVER_PORT: '99999' }));
    expect(info).toMatchObject({
      method: 'GET',
      url: '/',
      httpVersion: '1.0',
      remoteAddress: undefined,
      remotePort: undefined,
      localPort: undefined,
    });
    expect(httpVersion(get({ SERVER_PROTOCOL: 'HTTP/1.1' }))).toBe('1.1');
    expect(httpVersion(get({ SERVER_PROTOCOL: 'INCLUDED' }))).toBe('1.0');
  });
  test('ports: 1 to 5 decimal digits up to 65535, nothing else', () => {
    const portOf = (value: string) => cgiToHttp(envParams({ REMOTE_PORT: value })).remotePort;
    expect(['0', '80', '08080', '65535'].map(portOf)).toEqual([0, 80, 8080, 65535]);
    expect(['', ' 80', '80 ', '-1', '+80', '1e3', '8.0', '65536', '123456', '٣'].map(portOf)).toEqual(Array(10).fill(undefined));
  });
});
