// An Express app's req and res keep one hidden class from request to request (lib/adapters/app-shapes.ts): Express
// re-parents both with Object.setPrototypeOf on every request and then adds properties, which in V8 makes a new
// hidden class per request and sends every property access in Express to V8's runtime (bench/README.md). The
// adapter creates the properties the app adds ahead; what they read as must not change.
import fs from 'fs';
import path from 'path';
import { fromNodeListener, type NodeListener } from '../../lib';
import { fcgiRequest } from '../../lib/client';
import { fixture, startApp, type AppProcess } from '../helpers/app-process';
import { closeAfterAll } from '../helpers/cleanup';
import { makeTempDir } from '../helpers/tmp';

const track = closeAfterAll();

interface Report {
  same: { req: boolean; res: boolean } | null;
  statusCode: number;
  locals: string;
  query: Record<string, string>;
  ip: string;
  protocol: string;
  lazy: string;
  lazyIsAccessor: boolean;
  hasLazy: boolean;
  ownParams: boolean;
  ownBodyAhead: boolean;
  ownSymbols: number;
  body?: unknown;
}

let app: AppProcess & { socketPath: string };
let off: AppProcess & { socketPath: string };

async function start(env: NodeJS.ProcessEnv): Promise<AppProcess & { socketPath: string }> {
  const dir = makeTempDir('fcgi-shapes-');
  const socketPath = path.join(dir, 'app.sock');
  const started = await startApp(fixture('express-shapes.ts'), { listen: { path: socketPath }, env });
  track({
    close: async () => {
      await started.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  });
  return { ...started, socketPath };
}

beforeAll(async () => {
  [app, off] = await Promise.all([start({}), start({ SHAPES: 'off' })]);
});

async function get(i: number, prefix = '', route = 'hello', to = app): Promise<Report> {
  const json = i % 2 === 1;
  const body = JSON.stringify({ n: i });
  const reply = await fcgiRequest(
    { path: to.socketPath },
    {
      params: {
        REQUEST_METHOD: json ? 'POST' : 'GET',
        REQUEST_URI: json ? '/json' : `${prefix}/${route}${route === 'hello' ? `?n=${i}` : ''}`,
        QUERY_STRING: json || route !== 'hello' ? '' : `n=${i}`,
        SERVER_PROTOCOL: 'HTTP/1.1',
        HTTP_HOST: 'app.example',
        HTTPS: 'on',
        REMOTE_ADDR: '192.0.2.7',
        REMOTE_PORT: '40000',
        ...(json ? { CONTENT_TYPE: 'application/json', CONTENT_LENGTH: String(body.length) } : {}),
      },
      body: json ? body : undefined,
    },
  );
  return JSON.parse(reply.body.toString().split('\r\n\r\n').slice(1).join('\r\n\r\n') || reply.body.toString()) as Report;
}

test('req and res have the same hidden class on every request once the app is learned, whatever the route', async () => {
  const reports: Report[] = [];
  for (let i = 0; i < 40; i++) reports.push(await get(i));
  // The first requests teach the adapter what the app adds (a property is learned once two requests had it).
  const late = reports.slice(20);
  expect(late.map((r) => r.same)).toEqual(late.map(() => ({ req: true, res: true })));
});

test('the properties created ahead read as before: defaults, getters of Express, a middleware accessor, the body', async () => {
  for (let i = 0; i < 6; i++) await get(i); // learned (the first test may run alone)
  for (let i = 0; i < 3; i++) expect((await get(i * 2, '/odd', 'query')).query).toEqual({ odd: '1' });
  const hello = await get(40, '/odd');
  expect(hello).toMatchObject({
    statusCode: 200,
    locals: 'object',
    query: { n: '40' },
    ip: '192.0.2.7',
    protocol: 'https',
    lazy: 'computed',
    lazyIsAccessor: true,
  });
  // Not under /odd: Express's own getters, no accessor of the middleware's made ahead.
  expect(await get(44)).toMatchObject({ statusCode: 200, query: { n: '44' }, protocol: 'https', hasLazy: false });
  expect(hello.body).toBeUndefined();
  const json = await get(41);
  expect(json).toMatchObject({ statusCode: 200, body: { n: 41 }, query: {} });
  // A key added under a new Symbol() on every request is never learned: the same own symbols each time (the
  // router's, the middleware's shared one, and the one of this request).
  const again = await get(42, '/odd');
  expect(again.ownSymbols).toBe(hello.ownSymbols);
});

test('an own property is created ahead (body before any body parser); with learnProperties: false none is, and the classes change', async () => {
  const on: Report[] = [];
  const without: Report[] = [];
  for (let i = 0; i < 24; i++) {
    on.push(await get(i));
    without.push(await get(i, '', 'hello', off));
  }
  expect(on.slice(12).map((r) => r.ownBodyAhead)).toEqual(on.slice(12).map(() => true));
  expect(without.map((r) => r.ownBodyAhead)).toEqual(without.map(() => false));
  expect(without.slice(12).every((r) => r.same?.req === false && r.same.res === false)).toBe(true);
  // What the app reads is the same either way.
  const strip = (r: Report) => ({ ...r, same: null, ownBodyAhead: null, ownSymbols: null });
  expect(on.slice(12).map(strip)).toEqual(without.slice(12).map(strip));
});

test('learnProperties must be a boolean: a TypeError naming it', () => {
  const listener = (_req: unknown, res: { end(): void }) => res.end();
  expect(() => fromNodeListener(listener as unknown as NodeListener, { learnProperties: 'no' as unknown as boolean })).toThrow(
    expect.objectContaining({ name: 'TypeError', message: expect.stringMatching(/options\.learnProperties/) as unknown }),
  );
});
