// ResponseHead: the CGI head text (Status first, repeated fields), header injection refused, frozen once sent.
import { ResponseHead, type HeaderFields } from '../../lib/headers';

function thrown(fn: () => unknown): Error & { code?: string } {
  try {
    fn();
  } catch (err) {
    return err as Error & { code?: string };
  }
  throw new Error('expected a throw');
}

function head(...steps: Array<HeaderFields | [number, string?]>): string {
  const h = new ResponseHead();
  for (const step of steps) {
    if (Array.isArray(step)) h.setStatus(step[0], step[1]);
    else h.add(step);
  }
  return h.take();
}

describe('formatting', () => {
  test('fields keep their order, each "Name: value" + CRLF, and a blank line ends the head', () => {
    expect(head({ 'Content-Type': 'text/html', 'X-A': 'a' })).toBe('Content-Type: text/html\r\nX-A: a\r\n\r\n');
  });

  test('Status comes first even when set after other fields', () => {
    expect(head({ 'Content-Type': 'text/plain' }, [404])).toBe('Status: 404 Not Found\r\nContent-Type: text/plain\r\n\r\n');
  });

  test('an array gives one field per element (two Set-Cookie fields)', () => {
    expect(head({ 'Set-Cookie': ['a=1; Path=/', 'b=2'] })).toBe('Set-Cookie: a=1; Path=/\r\nSet-Cookie: b=2\r\n\r\n');
  });

  test('numbers are written in decimal, also inside arrays', () => {
    expect(head({ 'Content-Length': 12, 'X-N': [1, 2.5] })).toBe('Content-Length: 12\r\nX-N: 1\r\nX-N: 2.5\r\n\r\n');
  });

  test('header() called twice appends; the same name twice gives two fields', () => {
    expect(head({ 'X-A': '1' }, { 'X-A': '2' })).toBe('X-A: 1\r\nX-A: 2\r\n\r\n');
  });

  test('an undefined value is skipped; an empty array adds nothing', () => {
    expect(head({ 'X-Skip': undefined, 'X-None': [], 'X-A': '' })).toBe('X-A: \r\n\r\n');
  });

  test('a TAB inside a value is allowed (obs-fold whitespace), as in Node http', () => {
    expect(head({ 'X-A': 'a\tb' })).toBe('X-A: a\tb\r\n\r\n');
  });

  test('a head with no fields is just the blank line', () => {
    expect(new ResponseHead().take()).toBe('\r\n');
  });
});

describe('Status', () => {
  test('status(code) adds the standard reason phrase', () => {
    expect(head([200])).toBe('Status: 200 OK\r\n\r\n');
    expect(head([503])).toBe('Status: 503 Service Unavailable\r\n\r\n');
  });

  test('status(code, reason) uses the given reason', () => {
    expect(head([404, 'Nothing Here'])).toBe('Status: 404 Nothing Here\r\n\r\n');
  });

  test('a code without a standard reason is sent as the bare number', () => {
    expect(head([299])).toBe('Status: 299\r\n\r\n');
  });

  test('Status given through header() as a number, a "code" string or a "code reason" string', () => {
    expect(head({ Status: 404 })).toBe('Status: 404 Not Found\r\n\r\n');
    expect(head({ Status: '201' })).toBe('Status: 201 Created\r\n\r\n');
    expect(head({ Status: '302 Moved Elsewhere' })).toBe('Status: 302 Moved Elsewhere\r\n\r\n');
  });

  test('the Status name is case-insensitive and never written twice: the last one set wins', () => {
    expect(head({ status: '404' }, [500])).toBe('Status: 500 Internal Server Error\r\n\r\n');
    expect(head([500], { STATUS: 204 })).toBe('Status: 204 No Content\r\n\r\n');
  });

  test('statusCode reports the code set so far, 200 when none', () => {
    const h = new ResponseHead();
    expect(h.statusCode).toBe(200);
    h.setStatus(418);
    expect(h.statusCode).toBe(418);
  });

  test.each([99, 1000, 200.5, NaN])('status(%p) is a RangeError ERR_OUT_OF_RANGE naming "code"', (code) => {
    const err = thrown(() => new ResponseHead().setStatus(code));
    expect(err).toBeInstanceOf(RangeError);
    expect(err.code).toBe('ERR_OUT_OF_RANGE');
    expect(err.message).toContain('"code"');
  });

  test('status("200") (a string) is a TypeError ERR_INVALID_ARG_TYPE naming "code"', () => {
    const err = thrown(() => new ResponseHead().setStatus('200' as unknown as number));
    expect(err).toBeInstanceOf(TypeError);
    expect(err.code).toBe('ERR_INVALID_ARG_TYPE');
    expect(err.message).toContain('"code"');
  });

  test('a Status field that is not "<3 digits> [reason]" is refused with ERR_INVALID_ARG_VALUE', () => {
    for (const value of ['abc', '20', '2000', 'OK 200']) {
      const err = thrown(() => new ResponseHead().add({ Status: value }));
      expect(err.code).toBe('ERR_INVALID_ARG_VALUE');
      expect(err.message).toContain('Status');
    }
  });

  test('a reason containing CR/LF is refused (no header injection through the status line)', () => {
    const err = thrown(() => new ResponseHead().setStatus(200, 'OK\r\nX-Injected: 1'));
    expect(err).toBeInstanceOf(TypeError);
    expect(err.code).toBe('ERR_INVALID_HEADER');
  });
});

describe('invalid names and values', () => {
  test.each(['a\rb', 'a\nb', 'a\r\nX-Injected: 1', 'a\0b', '\n'])(
    'a value containing CR, LF or NUL (%j) is a TypeError ERR_INVALID_HEADER naming the header',
    (value) => {
      const err = thrown(() => new ResponseHead().add({ 'X-Bad': value }));
      expect(err).toBeInstanceOf(TypeError);
      expect(err.code).toBe('ERR_INVALID_HEADER');
      expect(err.message).toContain('"X-Bad"');
    },
  );

  test('a bad element inside an array value is refused too', () => {
    expect(thrown(() => new ResponseHead().add({ 'Set-Cookie': ['ok=1', 'bad=1\r\nX: y'] })).code).toBe('ERR_INVALID_HEADER');
  });

  test('other control characters (DEL, BEL) are refused as Node http does', () => {
    expect(thrown(() => new ResponseHead().add({ 'X-A': 'a\x7f' })).code).toBe('ERR_INVALID_HEADER');
    expect(thrown(() => new ResponseHead().add({ 'X-A': 'a\x07' })).code).toBe('ERR_INVALID_HEADER');
  });

  test.each(['X\r', 'X\nY', 'X\0', 'X Y', 'X:Y', '', 'Ä'])(
    'a name that is not an HTTP token (%j) is a TypeError ERR_INVALID_HEADER',
    (name) => {
      const err = thrown(() => new ResponseHead().add({ [name]: 'v' }));
      expect(err).toBeInstanceOf(TypeError);
      expect(err.code).toBe('ERR_INVALID_HEADER');
      expect(err.message).toContain('Invalid header name');
    },
  );

  test('a value that is neither string nor number (object, boolean) is ERR_INVALID_ARG_TYPE', () => {
    expect(thrown(() => new ResponseHead().add({ 'X-A': {} as unknown as string })).code).toBe('ERR_INVALID_ARG_TYPE');
    expect(thrown(() => new ResponseHead().add({ 'X-A': true as unknown as string })).code).toBe('ERR_INVALID_ARG_TYPE');
  });

  test('a number that is not finite is refused', () => {
    expect(thrown(() => new ResponseHead().add({ 'Content-Length': Infinity })).code).toBe('ERR_INVALID_ARG_VALUE');
    expect(thrown(() => new ResponseHead().add({ 'Content-Length': NaN })).code).toBe('ERR_INVALID_ARG_VALUE');
  });

  test('fields that are not an object (null, array, string) are ERR_INVALID_ARG_TYPE naming "fields"', () => {
    for (const fields of [null, [['a', 'b']], 'X: y']) {
      const err = thrown(() => new ResponseHead().add(fields as unknown as HeaderFields));
      expect(err.code).toBe('ERR_INVALID_ARG_TYPE');
      expect(err.message).toContain('"fields"');
    }
  });

  test('a refused header() call adds none of its fields', () => {
    const h = new ResponseHead();
    h.add({ 'X-Before': '1' });
    expect(() => h.add({ 'X-Good': 'g', 'X-Bad': 'b\n' })).toThrow();
    expect(h.take()).toBe('X-Before: 1\r\n\r\n');
  });
});

describe('once sent', () => {
  test('header() after take() throws FCGI_HEADERS_SENT', () => {
    const h = new ResponseHead();
    h.add({ 'X-A': '1' });
    h.take();
    const err = thrown(() => h.add({ 'X-B': '2' }));
    expect(err.code).toBe('FCGI_HEADERS_SENT');
    expect(err.message).toContain('header()');
  });

  test('status() after take() throws FCGI_HEADERS_SENT', () => {
    const h = new ResponseHead();
    h.take();
    const err = thrown(() => h.setStatus(500));
    expect(err.code).toBe('FCGI_HEADERS_SENT');
    expect(err.message).toContain('status()');
  });

  test('after markRaw() (raw CGI output started) header() throws FCGI_HEADERS_SENT', () => {
    const h = new ResponseHead();
    h.markRaw();
    expect(h.sent).toBe(true);
    expect(thrown(() => h.add({ 'X-A': '1' })).code).toBe('FCGI_HEADERS_SENT');
  });

  test('used/sent report whether the head is ours and whether it went out', () => {
    const h = new ResponseHead();
    expect([h.used, h.sent]).toEqual([false, false]);
    h.add({ 'X-A': '1' });
    expect([h.used, h.sent]).toEqual([true, false]);
    h.take();
    expect([h.used, h.sent]).toEqual([true, true]);
  });
});
