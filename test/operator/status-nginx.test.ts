// The README's nginx snippet for the status page ("Operating it"), as written there, in front of the concurrent
// server: the page comes through for 127.0.0.1 in text and ?json, other client addresses get nginx's 403, and the
// app's own location still reaches the handler.
import fs from 'fs';
import http from 'http';
import path from 'path';
import { createServer, type Server, type Stats } from '../../lib';
import { describeWithBinaries } from '../helpers/binaries';
import { closeAfterEach } from '../helpers/cleanup';
import { httpRequest } from '../helpers/http';
import { startNginx } from '../helpers/nginx';
import { makeTempDir } from '../helpers/tmp';

jest.setTimeout(60000);

/** The ```nginx block of README.md's "Operating it" section, exactly as written. */
function readmeSnippet(): string {
  const readme = fs.readFileSync(path.join(__dirname, '..', '..', 'README.md'), 'utf8');
  const section = readme.split('\n## Operating it\n')[1]?.split('\n## ')[0];
  const snippet = section === undefined ? undefined : /```nginx\n([\s\S]*?)```/.exec(section)?.[1];
  if (snippet === undefined) throw new Error('README.md has no ```nginx block in "## Operating it"');
  return snippet;
}

/** GET from a given local address (nginx listens on 127.0.0.1; 127.0.0.2 is another loopback client). */
function getFrom(url: string, localAddress: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { localAddress, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

describeWithBinaries(['nginx'])('the status page through nginx (README snippet)', () => {
  const track = closeAfterEach();
  let server: Server | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  test('allow 127.0.0.1 / deny all location: text and ?json for 127.0.0.1, 403 for others, the app untouched', async () => {
    const sock = path.join(makeTempDir(), 'app.sock');
    fs.chmodSync(path.dirname(sock), 0o755); // nginx's worker (another user when not root) reaches the socket
    const seen: string[] = [];
    server = createServer(
      (req) => {
        seen.push(req.param('REQUEST_URI') ?? '');
        req.header({ 'Content-Type': 'text/plain' }).print('app');
      },
      { handleSignals: false, statusPath: '/fcgi-status' },
    );
    await server.listen({ path: sock, mode: 0o666 });

    // The snippet as pasted into a site under /etc/nginx (where `include fastcgi_params` resolves), pointing
    // at this test's socket.
    const snippet = readmeSnippet();
    expect(snippet).toContain('fastcgi_pass unix:/tmp/app.sock;');
    expect(snippet).toContain('include fastcgi_params;');
    const conf = snippet
      .replace('unix:/tmp/app.sock', `unix:${sock}`)
      .replace('include fastcgi_params;', 'include /etc/nginx/fastcgi_params;');
    const nginx = track(await startNginx({ upstream: { path: sock }, extraServerConf: conf }));

    expect((await httpRequest(`${nginx.url}/hello`)).text).toBe('app');
    const text = await httpRequest(`${nginx.url}/fcgi-status`);
    expect(text.status).toBe(200);
    expect(text.text).toMatch(/^server: +libfcgi concurrent server$/m);
    expect(text.text).toMatch(/^accepted requests: +2$/m);
    const json = await httpRequest(`${nginx.url}/fcgi-status?json`);
    expect(json.headers['content-type']).toBe('application/json');
    expect((JSON.parse(json.text) as Stats).completed).toBe(2);

    const denied = await getFrom(`${nginx.url}/fcgi-status?json`, '127.0.0.2');
    expect(denied.status).toBe(403);
    expect(seen).toEqual(['/hello']);
    expect(server.stats().accepted).toBe(3); // the denied one never reached the app
  });
});
