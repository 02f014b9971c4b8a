// fromFetchHandler's argument checks: what is not a fetch handler or app is a TypeError naming what it got.
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
