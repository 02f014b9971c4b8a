// The AUTHORIZER role: allow() and deny() in both APIs, then behind the two web servers that speak it: Apache
// mod_authnz_fcgi (authn through AuthBasicProvider, authz through Require) and lighttpd mod_fastcgi "mode" =>
// "authorizer" with its docroot pass-through, each from its example config in examples/.
import fs from 'fs';
import path from 'path';
import { FastCGIClient, parseCgiResponse } from '../../lib/client';
import { startApache } from '../helpers/apache';
import { example, exampleWith, fixture, startApp, type AppProcess } from '../helpers/app-process';
import { describeWithBinaries } from '../helpers/binaries';
import { closeAfterEach } from '../helpers/cleanup';
import { httpRequest } from '../helpers/http';
import { makeTempDir, tempDir } from '../helpers/tmp';
import { findBinary } from '../helpers/binaries';
import { retryOnAddressInUse } from '../helpers/ports';
import { inDir, launch, quote, shareWithServerUser } from '../helpers/web-server';

const ALICE = { Authorization: `Basic ${Buffer.from('alice:secret').toString('base64')}` };
const WRONG = { Authorization: `Basic ${Buffer.from('alice:guess').toString('base64')}` };

describe.each(['sync', 'server'])('allow() and deny() (%s)', (kind) => {
  let app: AppProcess;
  let socketPath: string;
  beforeAll(async () => {
    socketPath = path.join(makeTempDir('fcgi-authz-'), 'app.sock');
    app = await startApp(fixture('roles-app.ts'), { listen: { path: socketPath }, env: { APP_KIND: kind } });
  });
  afterAll(async () => {
    await app?.close();
  });

  async function authorizer(uri: string, params: Record<string, string> = {}) {
    const client = await FastCGIClient.connect({ path: socketPath }, { timeout: 10000 });
    try {
      const { stdout } = await client.request({ role: 'AUTHORIZER', params: { REQUEST_URI: uri, ...params } }).response();
      const parsed = parseCgiResponse(stdout);
      const field = (name: string) => parsed.headers.find(([n]) => n.toLowerCase() === name)?.[1];
      return { raw: stdout.toString(), status: parsed.status, body: parsed.body, field };
    } finally {
      await client.close();
    }
  }

  test('allow(): status 200 with a Variable-NAME field per variable', async () => {
    const r = await authorizer('/page', { HTTP_AUTHORIZATION: ALICE.Authorization });
    expect(r.status).toBe(200);
    expect(r.raw).toMatch(/^Status: 200 OK\r\n/);
    expect(r.field('variable-auth_user')).toBe('alice');
    expect(r.field('variable-auth_level')).toBe('7');
  });

  test('deny(): the status, header fields and body for the client', async () => {
    const r = await authorizer('/page');
    expect(r.status).toBe(401);
    expect(r.field('www-authenticate')).toBe('Basic realm="roles"');
    expect(r.body.toString()).toBe('authorizer says no\n');
  });

  test('an authorizer that answers nothing denies (403), never allows', async () => {
    const r = await authorizer('/silent');
    expect(r.status).toBe(403);
  });

  if (kind === 'server') {
    test('an authorizer handler that throws denies with 500, never allows', async () => {
      const r = await authorizer('/throw', { HTTP_AUTHORIZATION: ALICE.Authorization });
      expect(r.status).toBe(500);
      expect(r.raw).not.toMatch(/Variable-/);
    });
  }
});

describeWithBinaries(['apache2'])('Apache mod_authnz_fcgi with examples/apache-authorizer.conf', () => {
  const track = closeAfterEach();

  test('AuthBasicProvider (authn), Require (authz) and check_user_id: variables reach the protected page, denials are answered', async () => {
    // mod_authnz_fcgi connects over TCP only.
    const app = track(await startApp(example('authorizer.ts'), { listen: { tcp: true } }));
    const address = app.address as { host: string; port: number };
    const site = exampleWith('apache-authorizer.conf', [['127.0.0.1:9000', `${address.host}:${address.port}`]]);
    const modules = ['authn_core', 'auth_basic', 'authnz_fcgi', 'authz_user'].map(
      (m) => `LoadModule ${m}_module "/usr/lib/apache2/modules/mod_${m}.so"`,
    );
    const apache = track(await startApache({ mode: 'proxy_fcgi', upstream: address, extraConf: [...modules, site].join('\n') }));

    const none = await httpRequest(`${apache.url}/private/page`);
    expect(none.status).toBe(401);
    expect(none.headers['www-authenticate']).toBe('Basic realm="private"');

    const wrong = await httpRequest(`${apache.url}/private/page`, { headers: WRONG });
    expect(wrong.status).toBe(401);

    const ok = await httpRequest(`${apache.url}/private/page`, { headers: ALICE });
    expect({ status: ok.status, body: JSON.parse(ok.text) as unknown }).toEqual({
      status: 200,
      body: {
        page: '/private/page',
        vars: { AUTH_TYPE: 'Basic', REMOTE_USER: 'alice', AUTH_USER: 'alice', AUTH_LEVEL: '7', AUTHZ_LEVEL: '7' },
      },
    });

    // The authz phase denied (the app answered 403 with a body): Apache answers an authenticated user's authz
    // denial with its own 401 page (mod_authz_core); the app's body reaches the client only from lighttpd here.
    const forbidden = await httpRequest(`${apache.url}/private/forbidden`, { headers: ALICE });
    expect(forbidden.status).toBe(401);
    expect(forbidden.text).not.toContain('"vars"');

    // check_user_id (AuthnzFcgiCheckAuthnProvider): the authorizer's own denials reach the client.
    const apiNone = await httpRequest(`${apache.url}/api/report`);
    expect({ status: apiNone.status, text: apiNone.text, auth: apiNone.headers['www-authenticate'] }).toEqual({
      status: 401,
      text: 'Who are you? (the authorizer asks)\n',
      auth: 'Basic realm="private"',
    });
    const apiForbidden = await httpRequest(`${apache.url}/api/forbidden`, { headers: ALICE });
    expect({ status: apiForbidden.status, text: apiForbidden.text }).toEqual({ status: 403, text: 'alice may not see /api/forbidden\n' });
    const apiOk = await httpRequest(`${apache.url}/api/report`, { headers: ALICE });
    expect({ status: apiOk.status, body: JSON.parse(apiOk.text) as unknown }).toEqual({
      status: 200,
      body: { page: '/api/report', vars: { REMOTE_USER: 'alice', AUTH_USER: 'alice', AUTH_LEVEL: '7' } },
    });
  });
});

describeWithBinaries(['lighttpd'])('lighttpd mode "authorizer" with examples/lighttpd-authorizer.conf', () => {
  const track = closeAfterEach();

  test("allowed requests reach docroot (a CGI there sees the variables); denied ones get the authorizer's status, head and body", async () => {
    const dir = track(tempDir()).path;
    const socket = path.join(dir, 'authorizer.sock');
    track(await startApp(example('authorizer.ts'), { listen: { path: socket } }));
    shareWithServerUser(socket);
    const docroot = path.join(dir, 'www');
    fs.mkdirSync(path.join(docroot, 'private'), { recursive: true });
    fs.writeFileSync(path.join(docroot, 'private', 'report.txt'), 'the protected report\n');
    // A CGI under docroot shows the authorizer's variables arriving in the environment of what serves the request.
    fs.writeFileSync(
      path.join(docroot, 'private', 'env.sh'),
      "printf 'Content-Type: text/plain\\r\\n\\r\\n'\nenv | grep -E '^AUTH_' | sort\n",
    );
    const site = exampleWith('lighttpd-authorizer.conf', [
      ['/run/libfcgi/authorizer.sock', socket],
      ['/var/www/private', docroot],
    ]);
    fs.writeFileSync(inDir(dir, 'site.conf'), site);
    const lighttpd = findBinary('lighttpd') as string;
    const server = track(
      await retryOnAddressInUse(async (port) => {
        const configFile = inDir(dir, 'lighttpd.conf');
        const configText = [
          'server.modules = ( "mod_access", "mod_cgi" )',
          'cgi.assign = ( ".sh" => "/bin/sh" )',
          `server.document-root = ${quote(dir)}`,
          'server.bind = "127.0.0.1"',
          `server.port = ${port}`,
          `server.errorlog = ${quote(inDir(dir, 'error.log'))}`,
          `include ${quote(inDir(dir, 'site.conf'))}`,
          '',
        ].join('\n');
        fs.writeFileSync(configFile, configText);
        const launched = await launch({
          dir,
          command: lighttpd,
          args: ['-D', '-f', configFile],
          configFile,
          configText,
          ready: { tcpPort: port },
          errorLogFile: inDir(dir, 'error.log'),
          env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LANG: 'C' },
        });
        return { ...launched, url: `http://127.0.0.1:${port}` };
      }),
    );

    const ok = await httpRequest(`${server.url}/private/report.txt`, { headers: ALICE });
    expect({ status: ok.status, text: ok.text }).toEqual({ status: 200, text: 'the protected report\n' });

    const vars = await httpRequest(`${server.url}/private/env.sh`, { headers: ALICE });
    expect({ status: vars.status, text: vars.text }).toEqual({ status: 200, text: 'AUTH_LEVEL=7\nAUTH_USER=alice\n' });

    const forbidden = await httpRequest(`${server.url}/private/forbidden.txt`, { headers: ALICE });
    expect({ status: forbidden.status, text: forbidden.text }).toEqual({ status: 403, text: 'alice may not see /private/forbidden.txt\n' });

    const none = await httpRequest(`${server.url}/private/report.txt`);
    expect({ status: none.status, text: none.text, auth: none.headers['www-authenticate'] }).toEqual({
      status: 401,
      text: 'Who are you? (the authorizer asks)\n',
      auth: 'Basic realm="private"',
    });
    const wrong = await httpRequest(`${server.url}/private/report.txt`, { headers: WRONG });
    expect(wrong.status).toBe(401);
  });
});
