// fromFetchHandler's argument checks: what is not a fetch handler or app is a TypeError naming what it got.
import { execFileSync } from 'child_process';
import path from 'path';
import { fromFetchHandler } from '../../lib/adapters/fetch';

describe('fromFetchHandler arguments', () => {
  test.each([
    [42, 'number (42)'],
    ['app', '"app"'],
    [null, 'null'],
    [{}, 'an instance of Object'],
    [{ fetch: 'not a function' }, 'an instance of Object'],
  ])('%p is refused with a TypeError (ERR_INVALID_ARG_TYPE) saying what it got', (value, described) => {
    let caught: unknown;
    try {
      fromFetchHandler(value as never);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(TypeError);
    expect(caught).toMatchObject({ code: 'ERR_INVALID_ARG_TYPE' });
    expect((caught as Error).message).toContain('"app"');
    expect((caught as Error).message).toContain(`Received ${described}`);
  });

  test('a function and an object with a fetch method (a Hono app) are accepted', () => {
    expect(typeof fromFetchHandler(() => new Response('x'))).toBe('function');
    expect(typeof fromFetchHandler({ fetch: () => new Response('x') })).toBe('function');
  });

  test('a mountPath that is not a path is refused', () => {
    expect(() => fromFetchHandler(() => new Response(''), { mountPath: 'app' })).toThrow(
      expect.objectContaining({ name: 'TypeError', code: 'ERR_INVALID_ARG_VALUE', message: expect.stringContaining('options.mountPath') }),
    );
  });
});

// Reading globalThis.Response or Request.prototype loads Node's fetch implementation (undici, about 2 MB of heap that
// every major GC marks): an app without a fetch handler must not pay for it. The built package, in a fresh process.
describe("loading libfcgi leaves Node's fetch implementation unloaded", () => {
  const dist = path.join(__dirname, '..', '..', 'dist');
  const undiciLoaded = (code: string): boolean =>
    JSON.parse(
      execFileSync(
        process.execPath,
        ['-e', `${code}; console.log(JSON.stringify(process.moduleLoadList.some((m) => m.includes('undici'))))`],
        {
          encoding: 'utf8',
        },
      ),
    ) as boolean;

  test('require, createServer with a handler and with a Node listener: not loaded', () => {
    expect(
      undiciLoaded(
        `const l = require(${JSON.stringify(dist)}); l.createServer((req) => req.print('x')); l.createServer((req, res) => res.end())`,
      ),
    ).toBe(false);
  });
  test('a fetch handler (here with the lightweight Response) loads it, as it must', () => {
    expect(
      undiciLoaded(
        `const l = require(${JSON.stringify(dist)}); l.fromFetchHandler(() => new Response('x'), { overrideGlobalObjects: true })`,
      ),
    ).toBe(true);
  });
});
