// LightweightResponse (fromFetchHandler's overrideGlobalObjects): a Response for every purpose, built lazily.
import { kResponseCache, LightweightResponse } from '../../lib/adapters/lightweight-response';

const R = LightweightResponse as unknown as typeof Response;

describe('LightweightResponse', () => {
  test('instanceof holds both ways: lightweight is a platform Response, a platform Response is a LightweightResponse', () => {
    expect(new R('x')).toBeInstanceOf(Response);
    expect(new Response('x')).toBeInstanceOf(R);
  });

  test('a string body only records its arguments; status, ok, headers (default text type) come from them', () => {
    const res = new R('hello', { status: 201, statusText: 'Made', headers: { 'x-a': '1' } });
    expect((res as unknown as Record<symbol, unknown>)[kResponseCache]).toEqual([201, 'Made', 'hello', { 'x-a': '1' }]);
    expect([res.status, res.ok, res.statusText]).toEqual([201, true, 'Made']);
    expect([...res.headers]).toEqual([
      ['content-type', 'text/plain;charset=UTF-8'],
      ['x-a', '1'],
    ]);
  });

  test('headers changed through the getter survive into the platform Response; text() and body work', async () => {
    const res = new R('hello');
    res.headers.set('x-late', 'yes');
    expect(await res.text()).toBe('hello');
    expect(res.headers.get('x-late')).toBe('yes');
    expect((res as unknown as Record<symbol, unknown>)[kResponseCache]).toBeUndefined();
    expect(res.bodyUsed).toBe(true);
  });

  test('other bodies (streams, FormData) build the platform Response at once', async () => {
    const res = new R(new ReadableStream({ start: (c) => (c.enqueue(new TextEncoder().encode('s')), c.close()) }));
    expect((res as unknown as Record<symbol, unknown>)[kResponseCache]).toBeUndefined();
    expect(await res.text()).toBe('s');
  });

  test('bad statuses fail at construction, as the platform does', () => {
    expect(() => new R('x', { status: 99 })).toThrow(RangeError);
    expect(() => new R('x', { status: 204 })).toThrow(TypeError);
    expect(new R(null, { status: 204 }).status).toBe(204);
  });

  test("the statics (json, redirect) are the platform's", async () => {
    const json = R.json({ a: 1 });
    expect(json).toBeInstanceOf(Response);
    expect(await json.json()).toEqual({ a: 1 });
    expect(R.redirect('http://x/', 302).headers.get('location')).toBe('http://x/');
  });
});
