// The params string the concurrent server hands JavaScript (native/request.cc JoinParams; patch 0021): exactly
// "NAME=value\0NAME=value" in the order sent, FCGI_ROLE first, no NUL at the end — whether fcgi2 holds the params
// in one block (FCGX_GetParamsBlock, copied in one piece) or they spill over its 4 KiB (joined string by string),
// and for request after request on one kept connection (the block is reused).
import path from 'path';
import { createServer, type Server, type ServerRequest } from '../../lib';
import { FastCGIClient } from '../../lib/client';
import { kJoinedParams } from '../../lib/symbols';
import { makeTempDir } from '../helpers/tmp';

describe('createServer: the joined params string', () => {
  let server: Server;
  let sock: string;
  beforeAll(async () => {
    sock = path.join(makeTempDir('fcgi-joined-'), 'app.sock');
    server = createServer(
      (req: ServerRequest) => {
        req.print(`Content-Type: application/octet-stream\r\n\r\n${req[kJoinedParams]}`);
      },
      { handleSignals: false },
    );
    await server.listen({ path: sock });
  });
  afterAll(() => server.close());

  async function joinedOver(client: FastCGIClient, params: [string, string][]): Promise<string> {
    const { stdout } = await client.request({ params }).response();
    const text = stdout.toString('latin1');
    return text.slice(text.indexOf('\r\n\r\n') + 4);
  }

  test('small params (one block), request after request on a kept connection: exact, no trailing NUL', async () => {
    const client = await FastCGIClient.connect({ path: sock }, { timeout: 20000, keepConn: true });
    try {
      for (let i = 0; i < 3; i++) {
        const params: [string, string][] = [
          ['REQUEST_METHOD', 'GET'],
          ['REQUEST_URI', `/r${i}`],
          ['EMPTY', ''],
          ['HTTP_HOST', 'example'],
        ];
        const expected = ['FCGI_ROLE=RESPONDER', ...params.map(([k, v]) => `${k}=${v}`)].join('\0');
        expect(await joinedOver(client, params)).toBe(expected);
      }
    } finally {
      await client.close();
    }
  });

  test('params over 4 KiB (a 6000-byte Cookie) and then small ones again on the same connection: exact both times', async () => {
    const client = await FastCGIClient.connect({ path: sock }, { timeout: 20000, keepConn: true });
    try {
      const big: [string, string][] = [
        ['REQUEST_METHOD', 'GET'],
        ['HTTP_COOKIE', 'c'.repeat(6000)],
        ['LAST', 'x'],
      ];
      const small: [string, string][] = [['REQUEST_METHOD', 'POST']];
      expect(await joinedOver(client, big)).toBe(['FCGI_ROLE=RESPONDER', ...big.map(([k, v]) => `${k}=${v}`)].join('\0'));
      expect(await joinedOver(client, small)).toBe('FCGI_ROLE=RESPONDER\0REQUEST_METHOD=POST');
    } finally {
      await client.close();
    }
  });
});
