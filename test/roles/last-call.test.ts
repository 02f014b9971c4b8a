// Perl's LastCall(): lastCall() lets the current request finish and makes the next accept() return false.
import fs from 'fs';
import path from 'path';
import { fcgiRequest } from '../../lib/client';
import { fixture, startApp, waitForOutput, type AppProcess } from '../helpers/app-process';
import { makeTempDir } from '../helpers/tmp';

describe('lastCall()', () => {
  let app: AppProcess | undefined;
  afterEach(async () => {
    await app?.close();
    app = undefined;
  });

  test('the current request goes on to a complete response, then accept() returns false and the process exits', async () => {
    const socketPath = path.join(makeTempDir('fcgi-lastcall-'), 'app.sock');
    app = await startApp(fixture('roles-app.ts'), { listen: { path: socketPath }, env: { APP_KIND: 'sync' } });
    const first = await fcgiRequest({ path: socketPath, timeout: 10000 }, { params: { REQUEST_URI: '/plain' } });
    expect(first.status).toBe(200);
    // close() here would end the request at once: print('after') would throw and the response would stop at "before".
    const last = await fcgiRequest({ path: socketPath, timeout: 10000 }, { params: { REQUEST_URI: '/last-call' } });
    expect(last.body.toString()).toBe('before after');
    await waitForOutput(app.process, 'loop ended');
    expect(await app.process.exited).toEqual({ code: 0, signal: null });
    expect(fs.existsSync(socketPath)).toBe(false); // the loop ended as close() ends it: socket file removed
  });
});
