// The README's Hono snippet is examples/hono.ts, and it runs as written: under spawn-fcgi (fd 0) behind nginx.
import fs from 'fs';
import path from 'path';
import { appCommand, appEnv, example, REPO_ROOT } from '../helpers/app-process';
import { describeWithBinaries } from '../helpers/binaries';
import { closeAfterEach } from '../helpers/cleanup';
import { startNginx } from '../helpers/nginx';
import { startSpawnFcgi } from '../helpers/spawn-fcgi';
import { tempDir } from '../helpers/tmp';
import { request } from '../server/harness';

test('the README\'s "Fetch handlers (Hono)" snippet is examples/hono.ts word for word', () => {
  const readme = fs.readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Fetch handlers (Hono)'));
  const snippet = /```ts\n([\s\S]*?)```/.exec(section)?.[1];
  expect(snippet).toBe(fs.readFileSync(example('hono.ts'), 'utf8'));
});

describeWithBinaries(['nginx', 'spawn-fcgi'])('examples/hono.ts under spawn-fcgi behind nginx', () => {
  const track = closeAfterEach();

  test('routes with a parameter and a JSON body answer', async () => {
    const dir = track(tempDir()).path;
    const spawned = track(
      await startSpawnFcgi({ socketPath: path.join(dir, 'hono.sock'), command: appCommand(example('hono.ts')), env: appEnv() }),
    );
    const nginx = track(await startNginx({ upstream: { path: spawned.socketPath } }));
    const hello = await request(`${nginx.url}/hello/fcgi`);
    expect([hello.status, hello.text]).toEqual([200, 'hello fcgi']);
    const echo = await request(`${nginx.url}/echo`, {
      method: 'POST',
      body: '{"a":[1,"b"]}',
      headers: { 'Content-Type': 'application/json' },
    });
    expect(JSON.parse(echo.text)).toEqual({ a: [1, 'b'] });
  });
});
