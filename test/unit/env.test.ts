// parseParams: native's "NAME=VALUE\0..." string to a frozen, prototype-free CGI environment.
import { findParam, parseParams } from '../../lib/env';

describe('parseParams', () => {
  test('splits NAME=VALUE pairs separated by NUL', () => {
    expect({ ...parseParams('REQUEST_METHOD=GET\0QUERY_STRING=a=1&b=2\0CONTENT_LENGTH=0') }).toEqual({
      REQUEST_METHOD: 'GET',
      QUERY_STRING: 'a=1&b=2',
      CONTENT_LENGTH: '0',
    });
  });

  test('an empty string gives an empty environment', () => {
    expect(Object.keys(parseParams(''))).toEqual([]);
  });

  test('a value may contain "=": only the first "=" separates name and value', () => {
    expect({ ...parseParams('HTTP_COOKIE=a=1; b==2\0X==') }).toEqual({ HTTP_COOKIE: 'a=1; b==2', X: '=' });
  });

  test('an empty value is kept as an empty string', () => {
    const env = parseParams('CONTENT_TYPE=\0HTTPS=');
    expect(env.CONTENT_TYPE).toBe('');
    expect('HTTPS' in env).toBe(true);
  });

  test('the first of duplicate names wins, as FCGX_GetParam does', () => {
    expect(parseParams('A=first\0B=1\0A=second').A).toBe('first');
  });

  test('"__proto__", "constructor" and "hasOwnProperty" are plain keys: no prototype is touched', () => {
    const env = parseParams('__proto__=x\0constructor=y\0hasOwnProperty=z\0toString=w');
    expect(Object.getPrototypeOf(env)).toBeNull();
    expect(Object.keys(env)).toEqual(['__proto__', 'constructor', 'hasOwnProperty', 'toString']);
    expect(env['__proto__']).toBe('x');
    expect(env.constructor).toBe('y');
    expect(({} as Record<string, unknown>).x).toBeUndefined(); // Object.prototype untouched
  });

  test('a name that only exists on Object.prototype is absent', () => {
    const env = parseParams('A=1');
    expect(Reflect.get(env, 'toString')).toBeUndefined();
    expect('hasOwnProperty' in env).toBe(false);
  });

  test('a pair without "=" is skipped; the pairs around it are kept', () => {
    expect({ ...parseParams('A=1\0garbage\0B=2') }).toEqual({ A: '1', B: '2' });
  });

  test('an empty name ("=v") is kept as the key ""', () => {
    expect(parseParams('=v')['']).toBe('v');
  });

  test('values are latin1 strings: every byte is one character, as native delivers them', () => {
    // "ü" in UTF-8 is C3 BC: two characters here; Buffer.from(value, 'latin1') gives the bytes back.
    const raw = Buffer.from('REQUEST_URI=/\u00c3\u00bc', 'latin1').toString('latin1');
    const env = parseParams(raw);
    expect(Buffer.from(env.REQUEST_URI, 'latin1').toString('utf8')).toBe('/ü');
  });

  test('the environment is frozen', () => {
    const env = parseParams('A=1') as Record<string, string>;
    expect(Object.isFrozen(env)).toBe(true);
    expect(() => {
      env.A = '2'; // modules are strict: assigning to a frozen property throws
    }).toThrow(TypeError);
  });

  test('a trailing NUL adds no key', () => {
    expect(Object.keys(parseParams('A=1\0'))).toEqual(['A']);
  });
});

describe('findParam (param() without building env)', () => {
  const joined = 'FCGI_ROLE=RESPONDER\0A=1\0AB=2\0A=dup\0EMPTY=\0X=a=b';

  test.each([
    ['FCGI_ROLE', 'RESPONDER'],
    ['A', '1'],
    ['AB', '2'],
    ['EMPTY', ''],
    ['X', 'a=b'],
    ['B', undefined],
    ['', undefined],
    ['A=', undefined],
  ])('finds %j as parseParams does (%j)', (name, expected) => {
    expect(findParam(joined, name)).toBe(expected);
    expect(findParam(joined, name)).toBe(parseParams(joined)[name]);
  });
  test('a name looked up before (its search key kept) is found at the start, after a leading NUL and not at all alike', () => {
    for (let i = 0; i < 2; i++) {
      expect(findParam('AB=1\0A=2', 'A')).toBe('2');
      expect(findParam('A=1\0A=2', 'A')).toBe('1');
      expect(findParam('\0A=3', 'A')).toBe('3');
      expect(findParam('XA=1\0AA=2', 'A')).toBeUndefined();
      expect(findParam('', 'A')).toBeUndefined();
    }
  });
});
