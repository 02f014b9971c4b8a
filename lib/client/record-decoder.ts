// Streaming FastCGI record decoder: bytes split anywhere in, complete records out, malformed headers reported.
import { clientError } from './errors';
import { asBuffer, describe, FCGI_HEADER_LEN, FCGI_VERSION_1, type FastCGIRecord, recordTypeName } from './protocol';

interface PendingHeader {
  version: number;
  type: number;
  requestId: number;
  contentLength: number;
  paddingLength: number;
}

/**
 * Feed it chunks as they arrive (`push`); it returns the records they complete. Content is a view into the pushed
 * chunk when a record lies inside one chunk, and one copy otherwise, so large streams cost no repeated
 * concatenation. A header whose version is not 1 throws FCGI_PROTOCOL_ERROR, and so does every later push:
 * after a bad header the byte stream has no record boundaries left to trust.
 */
export class RecordDecoder {
  private readonly header = Buffer.alloc(FCGI_HEADER_LEN);
  private headerFilled = 0;
  private current: PendingHeader | undefined;
  private contentParts: Buffer[] = [];
  private contentFilled = 0;
  private paddingLeft = 0;
  private consumed = 0;
  private failure: Error | undefined;

  /** Bytes of an incomplete record held so far (0 at a record boundary). */
  get bufferedBytes(): number {
    if (this.current === undefined) return this.headerFilled;
    return FCGI_HEADER_LEN + this.contentFilled + (this.current.paddingLength - this.paddingLeft);
  }

  /** Decodes `chunk` and returns the records it completes, in order. */
  push(chunk: Uint8Array): FastCGIRecord[] {
    if (!(chunk instanceof Uint8Array)) throw new TypeError(`chunk must be a Uint8Array, got ${describe(chunk)}`);
    if (this.failure) throw this.failure;
    const bytes = asBuffer(chunk);
    const records: FastCGIRecord[] = [];
    let offset = 0;
    while (offset < bytes.length) {
      if (this.current === undefined) {
        const take = Math.min(FCGI_HEADER_LEN - this.headerFilled, bytes.length - offset);
        bytes.copy(this.header, this.headerFilled, offset, offset + take);
        this.headerFilled += take;
        offset += take;
        if (this.headerFilled < FCGI_HEADER_LEN) break;
        this.current = this.parseHeader(this.consumed + offset - FCGI_HEADER_LEN);
        this.headerFilled = 0;
        this.paddingLeft = this.current.paddingLength;
      } else if (this.contentFilled < this.current.contentLength) {
        const take = Math.min(this.current.contentLength - this.contentFilled, bytes.length - offset);
        this.contentParts.push(bytes.subarray(offset, offset + take));
        this.contentFilled += take;
        offset += take;
      } else {
        const take = Math.min(this.paddingLeft, bytes.length - offset);
        this.paddingLeft -= take; // padding is skipped, whatever its bytes are
        offset += take;
      }
      if (this.current !== undefined && this.contentFilled === this.current.contentLength && this.paddingLeft === 0) {
        records.push(this.finishRecord(this.current));
      }
    }
    this.consumed += bytes.length;
    return records;
  }

  /** Call when the byte stream ends: throws FCGI_PROTOCOL_ERROR if it ended inside a record. */
  end(): void {
    if (this.failure) throw this.failure;
    if (this.current === undefined && this.headerFilled === 0) return;
    const where =
      this.current === undefined
        ? `after ${this.headerFilled} of ${FCGI_HEADER_LEN} header bytes`
        : `in a ${recordTypeName(this.current.type)} record for request ${this.current.requestId} after ` +
          `${this.contentFilled} of ${this.current.contentLength} content bytes and ` +
          `${this.current.paddingLength - this.paddingLeft} of ${this.current.paddingLength} padding bytes`;
    throw clientError('FCGI_PROTOCOL_ERROR', `the byte stream ended inside a record: ${where}`);
  }

  private parseHeader(at: number): PendingHeader {
    const h = this.header;
    if (h[0] !== FCGI_VERSION_1) {
      const hex = [...h].map((b) => b.toString(16).padStart(2, '0')).join(' ');
      const text = h.toString('latin1');
      // An HTTP server answering on the FastCGI address is the usual way to get here; say so.
      const hint = /^HTTP\/|^<|^[A-Z]{3,7} /.test(text)
        ? ` (they read ${JSON.stringify(text)}: is this an HTTP server rather than a FastCGI application?)`
        : '';
      this.failure = clientError(
        'FCGI_PROTOCOL_ERROR',
        `malformed FastCGI record header at byte ${at}: version is ${h[0]}, expected ${FCGI_VERSION_1}; ` + `header bytes ${hex}${hint}`,
      );
      throw this.failure;
    }
    return {
      version: h[0],
      type: h[1],
      requestId: h.readUInt16BE(2),
      contentLength: h.readUInt16BE(4),
      paddingLength: h[6],
    };
  }

  private finishRecord(header: PendingHeader): FastCGIRecord {
    const parts = this.contentParts;
    const content = parts.length === 1 ? parts[0] : Buffer.concat(parts, header.contentLength);
    this.contentParts = [];
    this.contentFilled = 0;
    this.current = undefined;
    return {
      version: header.version,
      type: header.type,
      requestId: header.requestId,
      content,
      paddingLength: header.paddingLength,
    };
  }
}
