// Stalled peers: connections that send half a request and wait hold a worker only until readTimeout.
import net from 'net';
import path from 'path';
import { createServer, type Server } from '../../lib';
import { encodeBeginRequest, encodeParams, encodeRecord, fcgiRequest, RecordType } from '../../lib/client';
import { makeTempDir } from '../helpers/tmp';

const READ_TIMEOUT_MS = 3000;

describe('concurrent server with stalled peers', () => {
  let server: Server | undefined;
  const sockets: net.Socket[] = [];

  afterEach(async () => {
    for (const s of sockets.splice(0)) s.destroy();
    await server?.close();
    server = undefined;
  });

  test('32 connections that send half a request do not stop a 33rd client (default concurrency), and are closed after readTimeout', async () => {
    const sock = path.join(makeTempDir(), 'app.sock');
    server = createServer(
      (req) => {
        req.header({ 'Content-Type': 'text/plain' }).print(`ok ${req.param('REQUEST_URI')}`);
      },
      { handleSignals: false },
    );
    await server.listen({ path: sock, readTimeout: READ_TIMEOUT_MS });

    // BEGIN_REQUEST and the first bytes of a PARAMS record whose content never completes.
    const params = encodeRecord(RecordType.PARAMS, 1, encodeParams({ REQUEST_URI: '/stalled', QUERY_STRING: 'x' }));
    const half = Buffer.concat([encodeRecord(RecordType.BEGIN_REQUEST, 1, encodeBeginRequest(1, false)), params.subarray(0, 12)]);
    const started = Date.now();
    const closedAt: Promise<number>[] = [];
    for (let i = 0; i < 32; i++) {
      const s = net.connect(sock);
      sockets.push(s);
      s.on('error', () => {}); // a reset by the server is an acceptable way to close
      closedAt.push(new Promise((resolve) => s.on('close', () => resolve(Date.now() - started))));
      await new Promise<void>((resolve) => s.write(half, () => resolve()));
    }

    const t0 = Date.now();
    const res = await fcgiRequest(
      { path: sock, timeout: READ_TIMEOUT_MS * 2 },
      { params: { REQUEST_METHOD: 'GET', REQUEST_URI: '/33rd' } },
    );
    const waited = Date.now() - t0;
    expect(res.status).toBe(200);
    expect(res.body.toString()).toBe('ok /33rd');
    expect(waited).toBeLessThan(READ_TIMEOUT_MS / 2); // served while all 32 are still stalled

    const closeTimes = await Promise.all(closedAt);
    for (const t of closeTimes) {
      expect(t).toBeGreaterThanOrEqual(READ_TIMEOUT_MS * 0.9);
      expect(t).toBeLessThan(READ_TIMEOUT_MS + 5000);
    }
    // The workers are free again: the next request is served at once.
    const again = await fcgiRequest({ path: sock }, { params: { REQUEST_METHOD: 'GET', REQUEST_URI: '/after' } });
    expect(again.body.toString()).toBe('ok /after');
  });
});
