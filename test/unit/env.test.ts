import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
// parseParams: native's "NAME=VALUE\0..." string to a frozen, prototype-free CGI environment.
import { findParam, forgetLayouts, layoutStats, parseParams } from '../../lib/env';

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

// A web server sends the same names in the same order every request: parseParams checks a layout it saw
// before in place, and compiles a common one (lib/env.ts). Whatever path a request takes, the env must be the
// object the general parse gives.
describe('parseParams on layouts seen before', () => {
  /** The general parse written the plain way: what every path must give. */
  function reference(joined: string): Record<string, string> {
    const env: Record<string, string> = Object.create(null);
    for (const pair of joined.split('\0')) {
      const eq = pair.indexOf('=');
      if (eq < 0) continue;
      const name = pair.slice(0, eq);
      if (!Object.prototype.hasOwnProperty.call(env, name)) env[name] = pair.slice(eq + 1);
    }
    return env;
  }
  /** Asserts env behaves as the plain object `want`: keys in order, values, spread, in, JSON, prototype, frozen. */
  function expectPlain(env: Record<string, string>, want: Record<string, string>): void {
    expect(Object.keys(env)).toEqual(Object.keys(want));
    expect({ ...env }).toEqual({ ...want });
    expect(JSON.stringify(env)).toBe(JSON.stringify(want));
    for (const k of Object.keys(want)) {
      expect(k in env).toBe(true);
      expect(env[k]).toBe(want[k]);
      expect(Object.getOwnPropertyDescriptor(env, k)).toEqual({ value: want[k], writable: false, enumerable: true, configurable: false });
    }
    expect('toString' in env).toBe(false);
    expect('MISSING' in env).toBe(false);
    expect(Object.getPrototypeOf(env)).toBeNull();
    expect(Object.isFrozen(env)).toBe(true);
    expect(structuredClone(env)).toEqual({ ...want });
  }
  const nginxLike = (uri: string, port: number) =>
    `QUERY_STRING=\0REQUEST_METHOD=GET\0CONTENT_TYPE=\0CONTENT_LENGTH=\0SCRIPT_NAME=${uri}\0REQUEST_URI=${uri}\0` +
    `SERVER_PROTOCOL=HTTP/1.1\0REMOTE_ADDR=127.0.0.1\0REMOTE_PORT=${port}\0HTTP_HOST=localhost\0HTTP_X_A=1\0HTTP_X_A=2`;

  beforeEach(() => forgetLayouts());

  test('every request of one layout gets its own values, before and after the layout is compiled', () => {
    for (let i = 0; i < 40; i++) {
      const joined = nginxLike(`/app/${'x'.repeat(i)}?n=${i}`, 40000 + i);
      expectPlain(parseParams(joined), reference(joined));
    }
    expect(layoutStats()).toEqual({ cached: 1, compiled: 1 });
  });

  test('the first of duplicate names wins on every path', () => {
    for (let i = 0; i < 20; i++) {
      const joined = `A=first${i}\0B=${i}\0A=second\0C=c${i}`;
      const env = parseParams(joined) as Record<string, string>;
      expect(env.A).toBe(`first${i}`);
      expectPlain(env, reference(joined));
    }
    expect(layoutStats().compiled).toBe(1);
  });

  test('names that are not identifiers stay plain keys in a compiled layout, and no name is code', () => {
    const names = ['__proto__', 'constructor', 'a"b', "c'd", 'e\\f', 'g\nh', '${x}', "'];globalThis.pwned=1;//", '', ' '];
    const joined = (i: number) => names.map((n, j) => `${n}=${i}-${j}`).join('\0');
    for (let i = 0; i < 20; i++) expectPlain(parseParams(joined(i)), reference(joined(i)));
    expect(layoutStats().compiled).toBe(1);
    expect((globalThis as Record<string, unknown>).pwned).toBeUndefined();
    expect(Object.getPrototypeOf(parseParams(joined(99)))).toBeNull();
  });

  test('names that start with a digit, values with "=", newlines and bytes over 0x7f keep their pairs apart', () => {
    // The layout's expression separates pairs by \x00: written as \0 it would read "\01" as one octal escape.
    const joined = (i: number) => `A=${i}\x001=one\x0012=a=b\x00\xe9=caf\xe9\n${i}\x00X-Y.Z=${'v'.repeat(i * 50)}`;
    for (let i = 0; i < 20; i++) expectPlain(parseParams(joined(i)), reference(joined(i)));
    expect(layoutStats()).toEqual({ cached: 1, compiled: 1 });
    // Neither "\x01" nor a value holding what looks like a name matches the layout.
    for (const other of ['A=1\x01=one\x0012=a=b\x00\xe9=x\x00X-Y.Z=', 'A=1\x001=one\x0012=a\x00\xe9=x\x00X-Y.Z=\x00X-Y.Z=2']) {
      expectPlain(parseParams(other), reference(other));
    }
  });

  test('input that differs from a compiled layout anywhere is parsed the general way', () => {
    const base = 'A=1\0AB=2\0C=3';
    for (let i = 0; i < 20; i++) parseParams(base);
    expect(layoutStats().compiled).toBe(1);
    for (const joined of [
      'A=1\0AB=2', // one pair fewer
      'A=1\0AB=2\0C=3\0D=4', // one more
      'A=1\0A=2\0C=3', // a name that is a prefix of the expected one
      'AB=1\0AB=2\0C=3', // one the expected name is a prefix of
      'A=1\0garbage\0C=3', // a pair without "="
      'A=1\0AB=2\0C=3\0', // a trailing NUL
      'A=1\0AB=2\0C=3\0\0',
      'A=1\0\0AB=2\0C=3',
      'C=3\0AB=2\0A=1', // the same names in another order
      `A=1\0AB=${'v'.repeat(20000)}\0C=3`, // the same layout, too long for its expression: name by name
      `A=1\0AB=${'v'.repeat(20000)}\0D=3`,
      '',
    ]) {
      expectPlain(parseParams(joined), reference(joined));
    }
  });

  test('compilations and cached layouts are bounded whatever names arrive', () => {
    for (let l = 0; l < 100; l++) for (let i = 0; i < 16; i++) parseParams(`N${l}=${i}\0M=x`);
    expect(layoutStats()).toEqual({ cached: 8, compiled: 64 });
    // Past the bound, a new common layout is still parsed right.
    for (let i = 0; i < 20; i++) expect({ ...parseParams(`Z=${i}\0Y=y`) }).toEqual({ Z: String(i), Y: 'y' });
  });
});

describe('parseParams where code generation is disallowed', () => {
  test('node --disallow-code-generation-from-strings: layouts seen often still parse (the compiled path falls back)', () => {
    const script = `
      const { parseParams } = require(${JSON.stringify(path.join(__dirname, '../../dist/env.js'))});
      let last;
      for (let i = 0; i < 200; i++) last = parseParams('REQUEST_URI=/x' + i + '\\0SCRIPT_NAME=/s\\0HTTP_HOST=h');
      process.stdout.write(JSON.stringify(last));`;
    const out = execFileSync(process.execPath, ['--disallow-code-generation-from-strings', '-e', script], { encoding: 'utf8' });
    expect(JSON.parse(out)).toEqual({ REQUEST_URI: '/x199', SCRIPT_NAME: '/s', HTTP_HOST: 'h' });
  });
});
