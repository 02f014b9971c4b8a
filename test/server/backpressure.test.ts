// Output backpressure: while the web server does not read, print()+drain() and pipeline(…, req.stdout) stop producing.
import net from 'net';
import path from 'path';
import { closeAfterEach } from '../helpers/cleanup';
import { startApp, fixture } from '../helpers/app-process';
import { tempDir } from '../helpers/tmp';
import { events, fcgiRequestBytes, MiB, waitForEvent } from './harness';

/** A FastCGI request for `uri?query` on a raw connection that never reads what the app sends back. */
function sendAndNeverRead(socketPath: string, uri: string, query: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(socketPath);
    socket.once('error', reject);
    socket.once('connect', () => {
      socket.write(fcgiRequestBytes(uri, query));
      // No 'data' listener and paused: after a few KiB in Node's buffer, the socket's receive queue fills up.
      socket.pause();
      resolve(socket);
    });
  });
}

describe('concurrent server output backpressure', () => {
  const track = closeAfterEach();

  test.each(['print', 'pipeline'])(
    'with %s, a handler writing 64 MiB to a web server that reads nothing stops after about highWaterMark (1 MiB) plus socket buffers',
    async (mode) => {
      const dir = track(tempDir('fcgi-srv-'));
      const socketPath = path.join(dir.path, 'app.sock');
      const app = track(await startApp(fixture('server-app.ts'), { listen: { path: socketPath }, env: { SERVER_CONCURRENCY: '2' } }));
      const socket = await sendAndNeverRead(socketPath, '/download', `mib=64&mode=${mode}&progress=1`);
      track({ close: () => socket.destroy() });

      await waitForEvent(app.process, (e) => e.event === 'progress');
      // Nothing signals "the producer is now waiting": give it a generous second to run ahead if it can.
      await new Promise((resolve) => setTimeout(resolve, 1000));
      const produced = Math.max(
        ...events(app.process)
          .filter((e) => e.event === 'progress')
          .map((e) => e.produced as number),
      );
      console.log(`${mode}: ${(produced / MiB).toFixed(0)} MiB handed to the server while the peer read nothing`);
      // highWaterMark (1 MiB) + the Writable's own 1 MiB (pipeline) + a 64 KiB chunk + the unix socket's buffers.
      expect(produced).toBeLessThanOrEqual(4 * MiB);
    },
  );
});
