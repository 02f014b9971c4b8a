// normalizeListenOptions: defaults, exactly one way to listen, and errors that carry a code and name the argument.
import { DEFAULT_BACKLOG, DEFAULT_TIMEOUT_MS, normalizeListenOptions } from '../../lib/listen';

/** The error `fn` throws (fails the test when it does not throw). */
function thrown(fn: () => unknown): Error & { code?: string } {
  try {
    fn();
  } catch (err) {
    return err as Error & { code?: string };
  }
  throw new Error('expected a throw');
}

const timeouts = { readTimeout: 60000, writeTimeout: 60000, idleTimeout: 60000 };

describe('defaults', () => {
  test('backlog defaults to 511 (Node net) and every timeout to 60 s', () => {
    expect(DEFAULT_BACKLOG).toBe(511);
    expect(DEFAULT_TIMEOUT_MS).toBe(60000);
    expect(normalizeListenOptions({ path: '/tmp/a.sock' })).toEqual({
      kind: 'unix',
      path: '/tmp/a.sock',
      mode: undefined,
      backlog: 511,
      ...timeouts,
      maxParamNameLength: undefined,
      maxParamValueLength: undefined,
      maxParamsSize: undefined,
    });
  });

  test('TCP host defaults to 127.0.0.1 (never all interfaces by accident)', () => {
    expect(normalizeListenOptions({ port: 9000 })).toMatchObject({ kind: 'tcp', host: '127.0.0.1', port: 9000, backlog: 511 });
  });

  test('an IPv6 host and port 0 (any free port) are passed through', () => {
    expect(normalizeListenOptions({ host: '::1', port: 0 })).toMatchObject({ kind: 'tcp', host: '::1', port: 0 });
  });

  test('no options means the inherited socket on fd 0 (spawn-fcgi, mod_fcgid)', () => {
    expect(normalizeListenOptions(undefined)).toMatchObject({ kind: 'fd', fd: 0, ...timeouts });
  });

  test('{ fd: 3 } (systemd socket activation) is an inherited socket', () => {
    expect(normalizeListenOptions({ fd: 3 })).toMatchObject({ kind: 'fd', fd: 3 });
  });

  test('given values replace the defaults: backlog, mode, timeouts (0 disables), params limits and maxConnections', () => {
    expect(
      normalizeListenOptions({
        path: '/tmp/a.sock',
        backlog: 32,
        mode: 0o660,
        readTimeout: 0,
        writeTimeout: 1500,
        idleTimeout: 5,
        maxParamNameLength: 100,
        maxParamValueLength: 200,
        maxParamsSize: 300,
        maxConnections: 50,
        maxBufferedBytes: 2 ** 20,
      }),
    ).toEqual({
      kind: 'unix',
      path: '/tmp/a.sock',
      mode: 0o660,
      backlog: 32,
      readTimeout: 0,
      writeTimeout: 1500,
      idleTimeout: 5,
      maxParamNameLength: 100,
      maxParamValueLength: 200,
      maxParamsSize: 300,
      maxConnections: 50,
      maxBufferedBytes: 2 ** 20,
    });
  });

  test('a key whose value is undefined counts as absent', () => {
    expect(normalizeListenOptions({ path: undefined, port: 80, fd: undefined })).toMatchObject({ kind: 'tcp', port: 80 });
  });
});

describe('exactly one way to listen', () => {
  test.each([
    [{}, 'got none'],
    [{ backlog: 5 }, 'got none'],
    [{ path: '/tmp/a.sock', port: 1 }, 'got path, port'],
    [{ path: '/tmp/a.sock', fd: 0 }, 'got path, fd'],
    [{ port: 1, fd: 0 }, 'got port, fd'],
    [{ path: '/tmp/a.sock', port: 1, fd: 0 }, 'got path, port, fd'],
  ])('%j is refused with ERR_INVALID_ARG_VALUE naming what was given', (options, given) => {
    const err = thrown(() => normalizeListenOptions(options));
    expect(err).toBeInstanceOf(TypeError);
    expect(err.code).toBe('ERR_INVALID_ARG_VALUE');
    expect(err.message).toContain('"options"');
    expect(err.message).toContain('exactly one of path, port, fd or fdName');
    expect(err.message).toContain(given);
  });

  test.each([
    [{ port: 1, mode: 0o600 }, 'options.mode'],
    [{ fd: 0, mode: 0o600 }, 'options.mode'],
    [{ path: '/tmp/a.sock', host: '127.0.0.1' }, 'options.host'],
    [{ fd: 0, host: '127.0.0.1' }, 'options.host'],
    [{ fd: 0, backlog: 10 }, 'options.backlog'],
  ])('an option that does not apply to the chosen socket (%j) is refused, naming it', (options, name) => {
    const err = thrown(() => normalizeListenOptions(options));
    expect(err.code).toBe('ERR_INVALID_ARG_VALUE');
    expect(err.message).toContain(`"${name}"`);
  });
});

describe('bad values', () => {
  test.each([null, 'path', 42, [], () => undefined])('options %p that is not a plain object: ERR_INVALID_ARG_TYPE', (options) => {
    const err = thrown(() => normalizeListenOptions(options));
    expect(err).toBeInstanceOf(TypeError);
    expect(err.code).toBe('ERR_INVALID_ARG_TYPE');
    expect(err.message).toContain('"options" argument must be an object');
  });

  test('an unknown key (a typo such as "socket" or "backLog") is refused, naming it', () => {
    for (const key of ['socket', 'backLog', 'timeout']) {
      const err = thrown(() => normalizeListenOptions({ path: '/tmp/a.sock', [key]: 1 }));
      expect(err.code).toBe('ERR_INVALID_ARG_VALUE');
      expect(err.message).toContain(`"options.${key}" is not a known option`);
    }
  });

  test('extraKeys lets a caller add options of its own', () => {
    expect(normalizeListenOptions({ path: '/tmp/a.sock', concurrency: 4 }, ['concurrency'])).toMatchObject({ kind: 'unix' });
  });

  test.each([
    [{ path: 1 }, 'options.path'],
    [{ port: '9000' }, 'options.port'],
    [{ fd: '0' }, 'options.fd'],
    [{ path: '/tmp/a.sock', backlog: '5' }, 'options.backlog'],
    [{ path: '/tmp/a.sock', mode: '660' }, 'options.mode'],
    [{ port: 1, host: 127001 }, 'options.host'],
    [{ path: '/tmp/a.sock', readTimeout: '1' }, 'options.readTimeout'],
    [{ path: '/tmp/a.sock', maxParamsSize: null }, 'options.maxParamsSize'],
    [{ path: '/tmp/a.sock', maxBufferedBytes: '64MB' }, 'options.maxBufferedBytes'],
  ])('a value of the wrong type (%j) is a TypeError ERR_INVALID_ARG_TYPE naming %s', (options, name) => {
    const err = thrown(() => normalizeListenOptions(options));
    expect(err).toBeInstanceOf(TypeError);
    expect(err.code).toBe('ERR_INVALID_ARG_TYPE');
    expect(err.message).toContain(`"${name}"`);
  });

  test.each([
    [{ port: -1 }, 'options.port'],
    [{ port: 65536 }, 'options.port'],
    [{ port: 80.5 }, 'options.port'],
    [{ port: NaN }, 'options.port'],
    [{ fd: -1 }, 'options.fd'],
    [{ path: '/tmp/a.sock', backlog: 0 }, 'options.backlog'],
    [{ path: '/tmp/a.sock', mode: 0o1000 }, 'options.mode'],
    [{ path: '/tmp/a.sock', mode: -1 }, 'options.mode'],
    [{ path: '/tmp/a.sock', readTimeout: -1 }, 'options.readTimeout'],
    [{ path: '/tmp/a.sock', writeTimeout: 2 ** 31 }, 'options.writeTimeout'],
    [{ path: '/tmp/a.sock', idleTimeout: Infinity }, 'options.idleTimeout'],
    [{ path: '/tmp/a.sock', maxParamNameLength: 0 }, 'options.maxParamNameLength'],
    [{ path: '/tmp/a.sock', maxParamValueLength: 2 ** 30 + 1 }, 'options.maxParamValueLength'],
    [{ path: '/tmp/a.sock', maxBufferedBytes: 2 ** 20 - 1 }, 'options.maxBufferedBytes'],
    [{ path: '/tmp/a.sock', maxBufferedBytes: 2 ** 53 }, 'options.maxBufferedBytes'],
  ])('a number out of range (%j) is a RangeError ERR_OUT_OF_RANGE naming %s', (options, name) => {
    const err = thrown(() => normalizeListenOptions(options));
    expect(err).toBeInstanceOf(RangeError);
    expect(err.code).toBe('ERR_OUT_OF_RANGE');
    expect(err.message).toContain(`"${name}" is out of range`);
  });

  test('an empty host is refused', () => {
    const err = thrown(() => normalizeListenOptions({ port: 1, host: '' }));
    expect(err).toBeInstanceOf(TypeError);
    expect(err.code).toMatch(/^ERR_INVALID_ARG_(TYPE|VALUE)$/);
    expect(err.message).toContain('"options.host"');
  });

  test.each(['', 'a\0b'])('path %j (empty or with a NUL byte) is refused', (path) => {
    const err = thrown(() => normalizeListenOptions({ path }));
    expect(err.code).toBe('ERR_INVALID_ARG_VALUE');
    expect(err.message).toContain('"options.path"');
  });
});

describe('unix socket path length', () => {
  test('107 bytes (sun_path minus its NUL) is accepted', () => {
    const path = `/tmp/${'a'.repeat(102)}`;
    expect(Buffer.byteLength(path)).toBe(107);
    expect(normalizeListenOptions({ path })).toMatchObject({ kind: 'unix', path });
  });

  test('108 bytes is a RangeError ERR_OUT_OF_RANGE that says the limit and the length', () => {
    const err = thrown(() => normalizeListenOptions({ path: `/tmp/${'a'.repeat(103)}` }));
    expect(err).toBeInstanceOf(RangeError);
    expect(err.code).toBe('ERR_OUT_OF_RANGE');
    expect(err.message).toContain('"options.path"');
    expect(err.message).toContain('at most 107 bytes');
    expect(err.message).toContain('108 bytes');
  });

  test('the limit counts UTF-8 bytes, not characters', () => {
    // 40 "ü" are 40 characters but 80 bytes: 5 + 80 + 23 = 108 bytes.
    const path = `/tmp/${'ü'.repeat(40)}${'a'.repeat(23)}`;
    expect(path.length).toBeLessThan(107);
    expect(thrown(() => normalizeListenOptions({ path })).code).toBe('ERR_OUT_OF_RANGE');
  });
});
