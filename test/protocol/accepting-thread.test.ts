// Who accepts connections in the concurrent server (README, "Which calls may block"): the JS thread with the
// request gate (the vendored fcgi2), the native threads when built against a system libfcgi, which has no gate
// (npm run test:system-libfcgi runs this suite with LIBFCGI_SYSTEM=1). The app runs under strace -f; the JS
// thread is its main thread (thread id = process id).
import fs from 'fs';
import path from 'path';
import { describeWithBinaries } from '../helpers/binaries';
import { makeTempDir } from '../helpers/tmp';
import { startTracedApp, type TracedApp } from '../helpers/traced-app';
import { fcgiExchange } from '../server/harness';

const root = path.join(__dirname, '..', '..');
const APP = `
const { createServer } = require(${JSON.stringify(path.join(root, 'dist'))});
const server = createServer((req) => { req.print('accepted'); });
server.listen({ path: process.argv[1] }).then(() => process.stdout.write(\`listening \${process.pid}\\n\`));
`;
const SYSTEM = process.env.LIBFCGI_SYSTEM === '1';

describeWithBinaries(['strace'])('createServer: the thread that accepts connections (under strace -f)', () => {
  let app: TracedApp | undefined;
  afterEach(() => app?.kill());

  test(
    SYSTEM ? 'system libfcgi (no gate): native threads accept' : 'with the gate: the JS thread accepts',
    async () => {
      const dir = makeTempDir('fcgi-accepting-');
      const sock = path.join(dir, 'app.sock');
      const traceFile = path.join(dir, 'trace.txt');
      app = await startTracedApp(APP, [sock], traceFile, ['accept', 'accept4']);
      for (let i = 0; i < 3; i++) {
        const records = await fcgiExchange(sock, `/accept-${i}`);
        expect(Buffer.concat(records.map((r) => r.content)).toString('latin1')).toContain('accepted');
      }
      process.kill(app.pid, 'SIGTERM');
      expect(await app.exited).toBe(0);
      // Completed accepts only (a blocking accept4 logs "<unfinished ...>" first, then "resumed" with its result).
      const tids = fs
        .readFileSync(traceFile, 'latin1')
        .split('\n')
        .filter((line) => /\baccept4?\(/.test(line) && /= \d+$/.test(line))
        .map((line) => Number(/^(\d+)/.exec(line)?.[1]));
      expect(tids.length).toBeGreaterThanOrEqual(3);
      for (const tid of tids) {
        if (SYSTEM) expect(tid).not.toBe(app.pid);
        else expect(tid).toBe(app.pid);
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
    60_000,
  );
});
