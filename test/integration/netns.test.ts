// Across machines: two hosts simulated by two network namespaces this test creates (a veth pair between them,
// 10.200.0.1/30 and 10.200.0.2/30, addresses that exist only inside them). The app (the concurrent server) listens
// on TCP in "app", nginx runs in "web" with fastcgi_pass to 10.200.0.1, and an HTTP request made inside "web" is
// answered: the deployment the FastCGI archive calls "distributed computing". The namespaces are always removed.
//
// Where namespaces cannot be created (not root, no CAP_SYS_ADMIN, no `ip`), the suite skips with the reason;
// under CI=true it fails instead (CI runs as root, where this works).
import { execFileSync } from 'child_process';
import { appCommand, appEnv, fixture, REPO_ROOT } from '../helpers/app-process';
import { describeWithBinaries, findBinary, underCI } from '../helpers/binaries';
import { closeAfterEach } from '../helpers/cleanup';
import { startNginx } from '../helpers/nginx';
import { startProcess, type ProcessHandle } from '../helpers/process';

const APP = fixture('interop-app.ts');
const APP_ADDRESS = '10.200.0.1';
const WEB_ADDRESS = '10.200.0.2';
/** Inside the app's own namespace no other process can hold a port: a fixed one is safe there. */
const APP_PORT = 9000;
const tag = `${process.pid % 100000}`;
const NS_APP = `fcgi-app-${tag}`;
const NS_WEB = `fcgi-web-${tag}`;

const ip = (...args: string[]): string => execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

/** Why namespaces cannot be created here, or undefined when they can (tried with a probe namespace). */
function cannotCreateNamespaces(): string | undefined {
  if (findBinary('ip') === undefined) return '`ip` (iproute2) is not installed';
  const probe = `fcgi-probe-${tag}`;
  try {
    ip('netns', 'add', probe);
  } catch (err) {
    return `\`ip netns add\` failed: ${((err as { stderr?: string }).stderr ?? String(err)).trim()}`;
  }
  ip('netns', 'del', probe);
  return undefined;
}

function removeNamespaces(): void {
  for (const ns of [NS_APP, NS_WEB]) {
    try {
      ip('netns', 'del', ns); // its end of the veth pair goes with it
    } catch {
      // not created
    }
  }
}

/** Two namespaces joined by a veth pair, loopback up in both. */
function createNamespaces(): void {
  removeNamespaces();
  const [vApp, vWeb] = [`vfa${tag}`, `vfw${tag}`];
  ip('netns', 'add', NS_APP);
  ip('netns', 'add', NS_WEB);
  ip('link', 'add', vApp, 'type', 'veth', 'peer', 'name', vWeb);
  ip('link', 'set', vApp, 'netns', NS_APP);
  ip('link', 'set', vWeb, 'netns', NS_WEB);
  ip('-n', NS_APP, 'addr', 'add', `${APP_ADDRESS}/30`, 'dev', vApp);
  ip('-n', NS_WEB, 'addr', 'add', `${WEB_ADDRESS}/30`, 'dev', vWeb);
  for (const [ns, dev] of [
    [NS_APP, vApp],
    [NS_WEB, vWeb],
  ]) {
    ip('-n', ns, 'link', 'set', 'lo', 'up');
    ip('-n', ns, 'link', 'set', dev, 'up');
  }
}

/** Waits for a line on the app's stderr (its "listening" event). */
async function waitForOutput(proc: ProcessHandle, text: string, timeoutMs = 20000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!proc.stderr().includes(text)) {
    const status = proc.exitStatus();
    if (status) throw new Error(`${proc.description} exited (${status.code}) before "${text}": ${proc.stderr()}`);
    if (Date.now() > deadline) throw new Error(`${proc.description}: no "${text}" within ${timeoutMs} ms: ${proc.stderr()}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** An HTTP GET made by a node process inside namespace `ns`: the status line's code and the body. */
async function getInside(ns: string, url: string): Promise<{ status: number; body: string }> {
  const script =
    `require('http').get(${JSON.stringify(url)}, (r) => { let b = ''; r.setEncoding('utf8'); ` +
    `r.on('data', (c) => (b += c)); r.on('end', () => process.stdout.write(JSON.stringify({ status: r.statusCode, body: b }))); })` +
    `.on('error', (e) => { process.stderr.write(String(e)); process.exit(2); });`;
  const client = await startProcess(findBinary('ip') as string, ['netns', 'exec', ns, process.execPath, '-e', script]);
  const status = await client.exited;
  if (status.code !== 0) throw new Error(`GET ${url} inside ${ns} failed (${status.code}): ${client.stderr()}`);
  return JSON.parse(client.stdout()) as { status: number; body: string };
}

const reason = cannotCreateNamespaces();
const describeNetns = reason === undefined || underCI ? describe : describe.skip;
if (reason !== undefined && !underCI) {
  console.warn(`skipping the network-namespace test: ${reason}`);
}

describeWithBinaries(['nginx'])('across machines: app and nginx in two network namespaces', () => {
  describeNetns('app (concurrent server) on TCP in one namespace, nginx in the other', () => {
    const track = closeAfterEach();

    test('an HTTP request inside the web namespace is answered by the app in the other, over the veth link', async () => {
      if (reason !== undefined) throw new Error(`network namespaces cannot be created: ${reason}; under CI=true this is a failure`);
      track({ close: removeNamespaces }); // closed last (newest first): after the processes in them have stopped
      createNamespaces();
      const [node, ...args] = appCommand(APP);
      const app = track(
        await startProcess(findBinary('ip') as string, ['netns', 'exec', NS_APP, node, ...args], {
          cwd: REPO_ROOT,
          env: appEnv({ INTEROP_API: 'server', FCGI_HOST: APP_ADDRESS, FCGI_PORT: String(APP_PORT) }),
        }),
      );
      await waitForOutput(app, 'listening');
      const nginx = track(await startNginx({ upstream: { host: APP_ADDRESS, port: APP_PORT }, netns: NS_WEB }));
      expect(nginx.configText).toContain(`server ${APP_ADDRESS}:${APP_PORT};`);

      const hello = await getInside(NS_WEB, `${nginx.url}/`);
      expect(hello).toEqual({ status: 200, body: `hello from ${app.pid}` });
      // The veth pair is the only way between the namespaces: the request went from 10.200.0.2 to 10.200.0.1.
      expect(ip('-n', NS_WEB, '-o', 'addr')).toContain(`inet ${WEB_ADDRESS}/30`);
      // Not reachable from the test's own namespace: the address exists only inside the namespaces.
      expect(ip('-o', 'addr').includes(APP_ADDRESS)).toBe(false);
      expect(await app.close()).toEqual({ code: 0, signal: null });
    });
  });
});
