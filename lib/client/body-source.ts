// Request body sources (FCGI_STDIN, FCGI_DATA): validation and a pull-based chunk iterator with backpressure.
import { Readable } from 'stream';
import { asBuffer, describe } from './protocol';

/** What a request body or FILTER data stream may be. Strings are sent as UTF-8. */
export type BodySource = string | Uint8Array | Readable | AsyncIterable<Uint8Array | string>;

/** Throws a TypeError naming `what` unless `source` is a BodySource. */
export function checkBodySource(source: unknown, what: string): BodySource {
  if (typeof source === 'string' || source instanceof Uint8Array || source instanceof Readable) return source;
  if (source !== null && typeof source === 'object' && Symbol.asyncIterator in source) {
    return source as AsyncIterable<Uint8Array | string>;
  }
  throw new TypeError(`${what} must be a string, Uint8Array, Readable or AsyncIterable<Uint8Array>, got ${describe(source)}`);
}

/** A string or byte array body as bytes; undefined for streamed sources. */
export function bodyBytes(source: BodySource): Buffer | undefined {
  if (typeof source === 'string') return Buffer.from(source, 'utf8');
  if (source instanceof Uint8Array) return asBuffer(source);
  return undefined;
}

/**
 * Chunks of a streamed source, pulled one at a time so the caller's pace (socket backpressure) sets the reading
 * pace. Stopping early must not destroy a Readable we were lent: an http.IncomingMessage that is destroyed takes
 * its socket, and so the HTTP response, with it. Other async iterables get `return()`, as `for await` would.
 */
export function bodyChunks(source: Readable | AsyncIterable<Uint8Array | string>, what: string): AsyncIterator<Buffer> {
  const inner: AsyncIterator<unknown> =
    source instanceof Readable ? source.iterator({ destroyOnReturn: false }) : source[Symbol.asyncIterator]();
  return {
    async next(): Promise<IteratorResult<Buffer>> {
      const step = await inner.next();
      if (step.done) return { done: true, value: undefined };
      const chunk = step.value;
      if (typeof chunk === 'string') return { done: false, value: Buffer.from(chunk, 'utf8') };
      if (chunk instanceof Uint8Array) return { done: false, value: asBuffer(chunk) };
      throw new TypeError(`${what} yielded ${describe(chunk)}; chunks must be Uint8Array or string`);
    },
    async return(): Promise<IteratorResult<Buffer>> {
      await inner.return?.();
      return { done: true, value: undefined };
    },
  };
}
