// CGI response parsing (RFC 3875 section 6): header fields, Status/Location to an HTTP status, then the body.
import { STATUS_CODES } from 'http';
import { Transform, type TransformCallback } from 'stream';
import { clientError } from './errors';
import { asBuffer, checkInteger, describe } from './protocol';

/** The head of a CGI response: status and header fields. */
export interface CgiResponseHead {
  /** From the CGI `Status` field; 302 for a Location without Status; else 200. */
  status: number;
  /** The reason phrase of `Status`, or the standard one. */
  statusText: string;
  /** Header fields in the order sent, repeats kept (Set-Cookie); names as sent; the CGI `Status` field removed. */
  headers: Array<[string, string]>;
}

/** A whole CGI response: head and body. */
export interface CgiResponse extends CgiResponseHead {
  /** Everything after the blank line that ends the header section. */
  body: Buffer;
}

/** Options of the CGI response parsers. */
export interface CgiParseOptions {
  /** Largest header section accepted, in bytes (default 64 KiB). */
  maxHeaderSize?: number;
}

const DEFAULT_MAX_HEADER_SIZE = 64 * 1024;
const LF = 0x0a;
const CR = 0x0d;
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const STATUS_VALUE = /^(\d{3})(?:[ \t]+(.*))?$/;
const EMPTY = Buffer.alloc(0);

/**
 * Incremental parser: push() stdout chunks as they come; once the blank line ending the header has arrived,
 * `head` is set and push() returns the body bytes of each chunk (a view, not a copy). Lines may end in LF or
 * CRLF. Header bytes are read as latin1, as Node's http does, so values pass to an HTTP response byte-exact.
 * Malformed output throws FCGI_CGI_RESPONSE_ERROR.
 */
export class CgiResponseParser {
  /** The parsed head, once the header section is complete; undefined before. */
  head: CgiResponseHead | undefined;
  private readonly maxHeaderSize: number;
  private readonly headerChunks: Buffer[] = [];
  private headerLength = 0;
  /** Bytes of the current header line so far, not counting a CR. */
  private lineLength = 0;
  /** The current line so far is exactly one CR (a CRLF blank line in the making). */
  private lineIsCR = false;

  constructor(options: CgiParseOptions = {}) {
    this.maxHeaderSize = checkInteger(options.maxHeaderSize ?? DEFAULT_MAX_HEADER_SIZE, 'maxHeaderSize', 1, 0x7fffffff);
  }

  /** Feeds stdout bytes; returns the body bytes among them (empty while the header is incomplete). */
  push(chunk: Uint8Array): Buffer {
    if (!(chunk instanceof Uint8Array)) throw new TypeError(`chunk must be a Uint8Array, got ${describe(chunk)}`);
    const bytes = asBuffer(chunk);
    if (this.head !== undefined) return bytes;
    for (let i = 0; i < bytes.length; i++) {
      const byte = bytes[i];
      if (byte === LF) {
        if (this.lineLength === 0) {
          this.headerChunks.push(bytes.subarray(0, i + 1));
          this.head = parseHead(Buffer.concat(this.headerChunks).toString('latin1'));
          this.headerChunks.length = 0;
          return bytes.subarray(i + 1);
        }
        this.lineLength = 0;
        this.lineIsCR = false;
      } else if (byte === CR && this.lineLength === 0 && !this.lineIsCR) {
        this.lineIsCR = true; // maybe the CR of a CRLF blank line; counted if anything but LF follows
      } else {
        this.lineLength += this.lineIsCR ? 2 : 1;
        this.lineIsCR = false;
      }
      if (this.headerLength + i + 1 > this.maxHeaderSize) {
        throw clientError(
          'FCGI_CGI_RESPONSE_ERROR',
          `the CGI response header is longer than ${this.maxHeaderSize} bytes (no blank line ends it)`,
        );
      }
    }
    this.headerChunks.push(bytes);
    this.headerLength += bytes.length;
    return EMPTY;
  }

  /** Call at the end of stdout: returns the head, or throws FCGI_CGI_RESPONSE_ERROR if it never ended. */
  end(): CgiResponseHead {
    if (this.head !== undefined) return this.head;
    const got = this.headerLength === 0 ? 'the application sent no output' : `got ${this.headerLength} bytes`;
    throw clientError('FCGI_CGI_RESPONSE_ERROR', `the CGI response ended before the blank line that ends its header (${got})`);
  }
}

/** Parses a complete CGI response (e.g. ClientRequest.response().stdout). */
export function parseCgiResponse(stdout: Uint8Array, options: CgiParseOptions = {}): CgiResponse {
  const parser = new CgiResponseParser(options);
  const body = parser.push(stdout);
  return { ...parser.end(), body };
}

/**
 * The parser as a Transform for a streaming front end: write stdout into it, get 'head' once (before any body
 * data), read the body from it. `stdout.pipe(cgi).pipe(httpResponse)` after setting the head on 'head'.
 */
// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging -- the interface below adds only typed event overloads
export class CgiResponseStream extends Transform {
  private readonly parser: CgiResponseParser;

  constructor(options: CgiParseOptions = {}) {
    super();
    this.parser = new CgiResponseParser(options);
  }

  /** Set when 'head' has been emitted. */
  get head(): CgiResponseHead | undefined {
    return this.parser.head;
  }

  /** @internal Transform's hook: parses the head, passes the body on. */
  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    try {
      const hadHead = this.parser.head !== undefined;
      const body = this.parser.push(chunk);
      if (!hadHead && this.parser.head !== undefined) this.emit('head', this.parser.head);
      if (body.length > 0) this.push(body);
      callback();
    } catch (err) {
      callback(err as Error);
    }
  }

  /** @internal Transform's hook: a response that ended inside its head is an error. */
  override _flush(callback: TransformCallback): void {
    try {
      this.parser.end();
      callback();
    } catch (err) {
      callback(err as Error);
    }
  }
}

// Typed 'head' listeners; the catch-all overload repeats Node's own EventEmitter signature (hence any).
/* eslint-disable @typescript-eslint/no-explicit-any -- the catch-all overloads repeat Node's EventEmitter signature */
// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging -- declares only event overloads the class inherits from Transform
export interface CgiResponseStream {
  /** 'head': the parsed head, once, before any body data. */
  on(event: 'head', listener: (head: CgiResponseHead) => void): this;
  /** Any other stream event, as Transform's. */
  on(event: string | symbol, listener: (...args: any[]) => void): this;
  /** 'head': the parsed head, once, before any body data. */
  once(event: 'head', listener: (head: CgiResponseHead) => void): this;
  /** Any other stream event, as Transform's. */
  once(event: string | symbol, listener: (...args: any[]) => void): this;
}
/* eslint-enable @typescript-eslint/no-explicit-any -- end of the EventEmitter overloads */

function parseHead(text: string): CgiResponseHead {
  const lines = text.split('\n');
  lines.pop(); // after the final LF
  lines.pop(); // the blank line
  const headers: Array<[string, string]> = [];
  let status: string | undefined;
  lines.forEach((rawLine, index) => {
    const line = rawLine.endsWith('\r') ? rawLine.slice(0, -1) : rawLine;
    const bad = (why: string) =>
      clientError('FCGI_CGI_RESPONSE_ERROR', `CGI response header line ${index + 1} ${why}: ${JSON.stringify(line)}`);
    if (line.startsWith(' ') || line.startsWith('\t')) {
      // obs-fold: a continuation of the previous field's value
      const previous = headers[headers.length - 1];
      if (previous === undefined) throw bad('is a continuation line with no field before it');
      previous[1] = `${previous[1]} ${line.trim()}`.trim();
      return;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) throw bad('is not "Name: value"');
    const name = line.slice(0, colon);
    if (!TOKEN.test(name)) throw bad('has an invalid field name');
    const value = line.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, '');
    if (/[\r\0]/.test(value)) throw bad('has a CR or NUL in its value');
    if (name.toLowerCase() === 'status') {
      if (status !== undefined) throw bad('repeats the Status field');
      status = value;
      return;
    }
    headers.push([name, value]);
  });
  if (status !== undefined) {
    const match = STATUS_VALUE.exec(status);
    const code = match ? Number(match[1]) : NaN;
    if (!match || code < 100) {
      throw clientError('FCGI_CGI_RESPONSE_ERROR', `the CGI Status field must be "NNN reason", got ${JSON.stringify(status)}`);
    }
    return { status: code, statusText: match[2] ?? STATUS_CODES[code] ?? '', headers };
  }
  // RFC 3875 6.3.2/6.2.3: a Location without Status is a redirect.
  if (headers.some(([name]) => name.toLowerCase() === 'location')) return { status: 302, statusText: 'Found', headers };
  return { status: 200, statusText: 'OK', headers };
}
