// Leak check through the real addon: N requests (default 10,000) to test/fixtures/protocol-app.ts, then SIGTERM.
// scripts/test-asan.sh runs it with the ASan addon: APP_LD_PRELOAD and APP_ASAN_OPTIONS become the app's LD_PRELOAD
// and ASAN_OPTIONS (this driver itself runs plain), so LeakSanitizer checks the app when its loop ends and it exits.
// Exits 1 unless the app answered every request and exited 0 (LeakSanitizer exits 23 when it finds a leak).
import { encodeParams } from '../../lib/client';
import { RawConnection, RecordType, answers, begin, record, requestBytes, startProtocolApp, stream } from './harness';

const total = Number(process.argv[2] ?? 10000);
const perConnection = 100;

async function main(): Promise<number> {
  const env: NodeJS.ProcessEnv = {};
  if (process.env.APP_LD_PRELOAD) env.LD_PRELOAD = process.env.APP_LD_PRELOAD;
  if (process.env.APP_ASAN_OPTIONS) env.ASAN_OPTIONS = process.env.APP_ASAN_OPTIONS;
  const app = await startProtocolApp({ env });
  console.log(`app pid ${app.proc.pid}`);
  let served = 0;
  let exitCode = 1;
  const body = Buffer.alloc(3000, 0x61);
  try {
    while (served < total) {
      // Kept-alive requests in turn on one connection, with params and a body.
      const conn = await RawConnection.connect(app.path);
      for (let i = 1; i <= perConnection; i++) {
        await conn.write(requestBytes({ keepConn: i < perConnection, params: { REQUEST_METHOD: 'POST', N: String(served + i) }, body }));
        if (!(await conn.waitForEnds(i))) throw new Error(`request ${served + i} unanswered`);
      }
      if (answers(conn).length !== perConnection) throw new Error('answers missing');
      conn.destroy();
      served += perConnection;
      // Refused ones on their own connections: unknown role, a bad param, an abort in PARAMS, an unknown record.
      for (const bytes of [
        requestBytes({ role: 9 }),
        requestBytes({ params: [['A=B', 'c']] }),
        Buffer.concat([
          begin(1),
          stream(RecordType.PARAMS, 1, encodeParams({ A: '1' }), { end: false }),
          record(RecordType.ABORT_REQUEST, 1),
        ]),
        Buffer.concat([record(42, 0, Buffer.from('xyz')), requestBytes({ params: { AFTER: 'unknown' } })]),
      ]) {
        const refused = await RawConnection.connect(app.path);
        await refused.write(bytes);
        await refused.waitForClose(5000);
        refused.destroy();
      }
    }
    console.log(`${served} requests answered`);
  } finally {
    const status = await app.close();
    console.log(`app exit: code ${status.code} signal ${status.signal}`);
    // Not a return in finally: that would swallow an error thrown by the requests above.
    if (status.code !== 0) console.log(app.proc.stderr());
    exitCode = status.code === 0 ? 0 : 1;
  }
  return exitCode;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
