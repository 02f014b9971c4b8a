// FastCGI 1.0 wire format: constants, record encoding, name-value pairs and the fixed-size record bodies.
import { clientError } from './errors';

const EMPTY = Buffer.alloc(0);

/** The protocol version every record carries (FCGI_Header.version). */
export const FCGI_VERSION_1 = 1;
/** Bytes in a record header; the spec promises future versions never shrink it. */
export const FCGI_HEADER_LEN = 8;
/** contentLength is 16 bits. */
export const FCGI_MAX_CONTENT_LENGTH = 0xffff;
/** paddingLength is 8 bits. */
export const FCGI_MAX_PADDING_LENGTH = 0xff;
/** Management records (GET_VALUES, ...) use request id 0. */
export const FCGI_NULL_REQUEST_ID = 0;
/** Name-value lengths are 31 bits (the high bit of the 4-byte form marks the form). */
export const FCGI_MAX_PARAM_LENGTH = 0x7fffffff;
/** The flag bit of FCGI_BeginRequestBody.flags: the application keeps the connection open after the request. */
export const FCGI_KEEP_CONN = 1;

/** Record types (FCGI_Header.type). */
export const RecordType = {
  /** Starts a request: role and flags (web server → app). */
  BEGIN_REQUEST: 1,
  /** The web server gives up a request. */
  ABORT_REQUEST: 2,
  /** Ends a request: app status and protocol status (app → web server). */
  END_REQUEST: 3,
  /** The name-value pairs of the request (CGI environment), a stream. */
  PARAMS: 4,
  /** The request body, a stream. */
  STDIN: 5,
  /** The response (CGI output), a stream. */
  STDOUT: 6,
  /** Error output for the web server's log, a stream. */
  STDERR: 7,
  /** The file data of a FILTER request, a stream. */
  DATA: 8,
  /** A management query for the app's variables (FCGI_MAX_CONNS, ...). */
  GET_VALUES: 9,
  /** The answer to GET_VALUES. */
  GET_VALUES_RESULT: 10,
  /** The app's answer to a management record type it does not know. */
  UNKNOWN_TYPE: 11,
} as const;
/** The name of a record type, e.g. 'STDOUT'. */
export type RecordTypeName = keyof typeof RecordType;

/** Roles (FCGI_BeginRequestBody.role). */
export const Role = {
  /** Answers an HTTP request, as a CGI program does (what nginx and Apache send). */
  RESPONDER: 1,
  /** Decides whether the web server may go on with an HTTP request. */
  AUTHORIZER: 2,
  /** A RESPONDER that also gets a file (FCGI_DATA) to filter. */
  FILTER: 3,
} as const;
/** The name of a role, e.g. 'RESPONDER'. */
export type RoleName = keyof typeof Role;

/** END_REQUEST protocolStatus values. */
export const ProtocolStatus = {
  /** The request ended normally. */
  REQUEST_COMPLETE: 0,
  /** Refused: the app takes one request per connection at a time. */
  CANT_MPX_CONN: 1,
  /** Refused: the app is out of some resource. */
  OVERLOADED: 2,
  /** Refused: the app does not play the role asked for. */
  UNKNOWN_ROLE: 3,
} as const;
/** The name of a protocol status, e.g. 'REQUEST_COMPLETE'. */
export type ProtocolStatusName = keyof typeof ProtocolStatus;

/** The variables the spec defines for FCGI_GET_VALUES. */
export const FCGI_MAX_CONNS = 'FCGI_MAX_CONNS';
/** GET_VALUES variable: the most requests the app handles at once. */
export const FCGI_MAX_REQS = 'FCGI_MAX_REQS';
/** GET_VALUES variable: '1' when the app multiplexes requests on one connection, else '0'. */
export const FCGI_MPXS_CONNS = 'FCGI_MPXS_CONNS';

/** One decoded record. `content` excludes the padding, which receivers must skip. */
export interface FastCGIRecord {
  /** FCGI_Header.version (1). */
  version: number;
  /** The record type (a {@link RecordType} value, or an unknown one). */
  type: number;
  /** The request the record belongs to; 0 for management records. */
  requestId: number;
  /** The record's content, without the padding. */
  content: Buffer;
  /** The padding bytes that followed the content. */
  paddingLength: number;
}

/** The decoded body of a BEGIN_REQUEST record. */
export interface BeginRequestBody {
  /** A {@link Role} value. */
  role: number;
  /** The flags byte. */
  flags: number;
  /** True when the FCGI_KEEP_CONN flag is set. */
  keepConn: boolean;
}

/** The decoded body of an END_REQUEST record. */
export interface EndRequestBody {
  /** The application's exit status. */
  appStatus: number;
  /** A {@link ProtocolStatus} value. */
  protocolStatus: number;
}

/** A name or value of a pair: strings are sent as UTF-8, byte arrays as they are. */
export type ParamBytes = string | Uint8Array;
/** Name-value pairs: an object, a Map, or any iterable of [name, value] (which keeps order and repeats). */
export type ParamsInput = Readonly<Record<string, ParamBytes>> | Iterable<readonly [ParamBytes, ParamBytes]>;

const NAMES_BY_TYPE: Record<number, string> = Object.fromEntries(Object.entries(RecordType).map(([name, value]) => [value, name]));

/** `STDOUT` for 6, `type 42` for types the spec does not define; for messages. */
export function recordTypeName(type: number): string {
  return NAMES_BY_TYPE[type] ?? `type ${type}`;
}

/** Throws a RangeError naming `what` unless `value` is an integer in [min, max]. */
export function checkInteger(value: unknown, what: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    throw new (typeof value === 'number' ? RangeError : TypeError)(
      `${what} must be an integer from ${min} to ${max}, got ${describe(value)}`,
    );
  }
  if (value < min || value > max) {
    throw new RangeError(`${what} must be an integer from ${min} to ${max}, got ${value}`);
  }
  return value;
}

/** A short description of a value for error messages. */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'string') {
    return `string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value)}`;
  }
  if (typeof value === 'object') return value.constructor?.name ?? 'object';
  // eslint-disable-next-line @typescript-eslint/no-base-to-string -- objects returned above: a primitive or a function remains
  return `${typeof value} ${String(value)}`;
}

/** Views any Uint8Array as a Buffer without copying. */
export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** The 8-byte record header; the client writes it next to the content so large content is never copied. */
export function encodeHeader(type: number, requestId: number, contentLength: number, paddingLength = 0): Buffer {
  checkInteger(type, 'type', 0, 0xff);
  checkInteger(requestId, 'requestId', 0, 0xffff);
  checkInteger(contentLength, 'content length', 0, FCGI_MAX_CONTENT_LENGTH);
  checkInteger(paddingLength, 'paddingLength', 0, FCGI_MAX_PADDING_LENGTH);
  const header = Buffer.allocUnsafe(FCGI_HEADER_LEN);
  header[0] = FCGI_VERSION_1;
  header[1] = type;
  header.writeUInt16BE(requestId, 2);
  header.writeUInt16BE(contentLength, 4);
  header[6] = paddingLength;
  header[7] = 0; // reserved
  return header;
}

/**
 * One complete record: header, content, `paddingLength` zero bytes. Content over 65535 bytes is a RangeError; use
 * encodeStreamRecords to split a long stream.
 */
export function encodeRecord(type: number, requestId: number, content: Uint8Array = EMPTY, paddingLength = 0): Buffer {
  if (!(content instanceof Uint8Array)) throw new TypeError(`content must be a Uint8Array, got ${describe(content)}`);
  if (content.length > FCGI_MAX_CONTENT_LENGTH) {
    throw new RangeError(
      `content must be at most ${FCGI_MAX_CONTENT_LENGTH} bytes in one record, got ${content.length}; ` + 'use encodeStreamRecords',
    );
  }
  const header = encodeHeader(type, requestId, content.length, paddingLength);
  const record = Buffer.alloc(FCGI_HEADER_LEN + content.length + paddingLength); // zeroed: padding is zeros
  header.copy(record, 0);
  record.set(content, FCGI_HEADER_LEN);
  return record;
}

/** Options of {@link encodeStreamRecords}. */
export interface StreamRecordsOptions {
  /** Append the empty record that ends the stream (default true). */
  end?: boolean;
  /** Largest content per record (default and maximum 65535); smaller values make odd splits for tests. */
  maxContentLength?: number;
}

/**
 * A stream (PARAMS, STDIN, DATA, STDOUT, STDERR) as consecutive records of at most `maxContentLength` bytes each,
 * by default followed by the empty record that ends it. Returns one Buffer with all records.
 */
export function encodeStreamRecords(type: number, requestId: number, data: Uint8Array, options: StreamRecordsOptions = {}): Buffer {
  if (!(data instanceof Uint8Array)) throw new TypeError(`data must be a Uint8Array, got ${describe(data)}`);
  const max = checkInteger(options.maxContentLength ?? FCGI_MAX_CONTENT_LENGTH, 'maxContentLength', 1, FCGI_MAX_CONTENT_LENGTH);
  const records: Buffer[] = [];
  for (let offset = 0; offset < data.length; offset += max) {
    records.push(encodeRecord(type, requestId, data.subarray(offset, offset + max)));
  }
  if (options.end ?? true) records.push(encodeRecord(type, requestId));
  return Buffer.concat(records);
}

/** The length prefix of a name or value: 1 byte below 128, else 4 bytes big-endian with the high bit set. */
export function encodeParamLength(length: number): Buffer {
  checkInteger(length, 'param length', 0, FCGI_MAX_PARAM_LENGTH);
  if (length < 0x80) return Buffer.from([length]);
  const out = Buffer.allocUnsafe(4);
  out.writeUInt32BE((length | 0x80000000) >>> 0, 0);
  return out;
}

function checkParam(value: unknown, what: string): string | Buffer {
  if (typeof value === 'string') return value;
  if (value instanceof Uint8Array) return asBuffer(value);
  throw new TypeError(`${what} must be a string or Uint8Array, got ${describe(value)}`);
}

/** The pairs of a ParamsInput, validated; strings stay strings (encoded as UTF-8 where they are written). */
function checkedPairs(params: unknown, what: string): Array<[string | Buffer, string | Buffer]> {
  if (params === null || typeof params !== 'object') {
    throw new TypeError(`${what} must be an object, a Map or an iterable of [name, value] pairs, got ${describe(params)}`);
  }
  const pairs: Array<[string | Buffer, string | Buffer]> = [];
  if (Symbol.iterator in params) {
    let index = 0;
    for (const pair of params as Iterable<unknown>) {
      if (!Array.isArray(pair) || pair.length !== 2) {
        throw new TypeError(`${what}[${index}] must be a [name, value] pair, got ${describe(pair)}`);
      }
      pairs.push([checkParam(pair[0], `${what}[${index}] name`), checkParam(pair[1], `${what}[${index}] value`)]);
      index++;
    }
  } else {
    for (const [name, value] of Object.entries(params)) {
      pairs.push([name, checkParam(value, `${what} value of ${JSON.stringify(name)}`)]);
    }
  }
  return pairs;
}

const byteLength = (part: string | Buffer): number => (typeof part === 'string' ? Buffer.byteLength(part) : part.length);

/** The pairs of a ParamsInput as [name, value] byte arrays, validated. */
export function paramsToPairs(params: unknown, what = 'params'): Array<[Buffer, Buffer]> {
  return checkedPairs(params, what).map(([name, value]) => [
    typeof name === 'string' ? Buffer.from(name, 'utf8') : name,
    typeof value === 'string' ? Buffer.from(value, 'utf8') : value,
  ]);
}

/**
 * The FCGI_PARAMS / FCGI_GET_VALUES byte stream for the pairs (not yet cut into records). CR, LF and NUL are
 * legal in names and values: the encoding is length-prefixed. A name or value over 0x7fffffff bytes is a RangeError.
 * Strings are written straight into the one output buffer (this runs for every request a front end forwards).
 */
export function encodeParams(params: ParamsInput): Buffer {
  const pairs = checkedPairs(params, 'params');
  const lengths: number[] = new Array<number>(pairs.length * 2);
  let total = 0;
  for (let i = 0; i < pairs.length; i++) {
    const nameLength = byteLength(pairs[i][0]);
    const valueLength = byteLength(pairs[i][1]);
    if (nameLength > FCGI_MAX_PARAM_LENGTH) {
      throw new RangeError(`params name is ${nameLength} bytes, over 0x7fffffff`);
    }
    if (valueLength > FCGI_MAX_PARAM_LENGTH) {
      throw new RangeError(`params value is ${valueLength} bytes, over 0x7fffffff`);
    }
    lengths[2 * i] = nameLength;
    lengths[2 * i + 1] = valueLength;
    total += (nameLength < 0x80 ? 1 : 4) + (valueLength < 0x80 ? 1 : 4) + nameLength + valueLength;
  }
  const out = Buffer.allocUnsafe(total);
  let offset = 0;
  for (let i = 0; i < pairs.length; i++) {
    offset = writeParamLength(out, offset, lengths[2 * i]);
    offset = writeParamLength(out, offset, lengths[2 * i + 1]);
    for (const part of pairs[i]) {
      offset += typeof part === 'string' ? out.write(part, offset, 'utf8') : part.copy(out, offset);
    }
  }
  return out;
}

function writeParamLength(out: Buffer, offset: number, length: number): number {
  if (length < 0x80) {
    out[offset] = length;
    return offset + 1;
  }
  out.writeUInt32BE((length | 0x80000000) >>> 0, offset);
  return offset + 4;
}

function readParamLength(buf: Buffer, offset: number, what: string): [length: number, next: number] {
  if (offset >= buf.length) {
    throw clientError('FCGI_PARAMS_ERROR', `params truncated: ${what} length missing at byte ${offset} of ${buf.length}`);
  }
  if (buf[offset] < 0x80) return [buf[offset], offset + 1];
  if (offset + 4 > buf.length) {
    throw clientError(
      'FCGI_PARAMS_ERROR',
      `params truncated: 4-byte ${what} length at byte ${offset} has only ${buf.length - offset} of 4 bytes`,
    );
  }
  return [buf.readUInt32BE(offset) & 0x7fffffff, offset + 4];
}

/**
 * Parses a name-value pair stream. Strict: a pair cut short anywhere throws FCGI_PARAMS_ERROR. Names and values
 * are decoded as UTF-8 strings, or another encoding, or left as Buffers with `{ encoding: 'buffer' }`. A
 * 4-byte length below 128 is accepted (the spec only says which form short lengths *can* use).
 */
export function decodeParams(buf: Uint8Array): Array<[string, string]>;
export function decodeParams(buf: Uint8Array, options: { encoding: 'buffer' }): Array<[Buffer, Buffer]>;
export function decodeParams(buf: Uint8Array, options: { encoding: BufferEncoding }): Array<[string, string]>;
export function decodeParams(
  buf: Uint8Array,
  options: { encoding?: BufferEncoding | 'buffer' } = {},
): Array<[string, string]> | Array<[Buffer, Buffer]> {
  if (!(buf instanceof Uint8Array)) throw new TypeError(`buf must be a Uint8Array, got ${describe(buf)}`);
  const bytes = asBuffer(buf);
  const raw: Array<[Buffer, Buffer]> = [];
  let offset = 0;
  while (offset < bytes.length) {
    const start = offset;
    let nameLength: number;
    let valueLength: number;
    [nameLength, offset] = readParamLength(bytes, offset, 'name');
    [valueLength, offset] = readParamLength(bytes, offset, 'value');
    if (offset + nameLength + valueLength > bytes.length) {
      throw clientError(
        'FCGI_PARAMS_ERROR',
        `params truncated: the pair at byte ${start} declares a ${nameLength}-byte name ` +
          `and a ${valueLength}-byte value but only ${bytes.length - offset} bytes follow`,
      );
    }
    const name = bytes.subarray(offset, offset + nameLength);
    offset += nameLength;
    const value = bytes.subarray(offset, offset + valueLength);
    offset += valueLength;
    raw.push([name, value]);
  }
  const encoding = options.encoding ?? 'utf8';
  if (encoding === 'buffer') return raw;
  return raw.map(([name, value]) => [name.toString(encoding), value.toString(encoding)]);
}

/** FCGI_BeginRequestBody: role (16 bits), flags (FCGI_KEEP_CONN), 5 reserved zero bytes. */
export function encodeBeginRequest(role: number, keepConn: boolean): Buffer {
  checkInteger(role, 'role', 0, 0xffff);
  if (typeof keepConn !== 'boolean') throw new TypeError(`keepConn must be a boolean, got ${describe(keepConn)}`);
  const body = Buffer.alloc(8);
  body.writeUInt16BE(role, 0);
  body[2] = keepConn ? FCGI_KEEP_CONN : 0;
  return body;
}

/** Inverse of encodeBeginRequest, for fake applications in tests. */
export function decodeBeginRequest(content: Uint8Array): BeginRequestBody {
  const body = fixedBody(content, 'BEGIN_REQUEST');
  return { role: body.readUInt16BE(0), flags: body[2], keepConn: (body[2] & FCGI_KEEP_CONN) !== 0 };
}

/** FCGI_EndRequestBody: appStatus (32 bits, unsigned as the spec lays out its bytes), protocolStatus, 3 reserved. */
export function encodeEndRequest(appStatus: number, protocolStatus: number = ProtocolStatus.REQUEST_COMPLETE): Buffer {
  checkInteger(appStatus, 'appStatus', 0, 0xffffffff);
  checkInteger(protocolStatus, 'protocolStatus', 0, 0xff);
  const body = Buffer.alloc(8);
  body.writeUInt32BE(appStatus, 0);
  body[4] = protocolStatus;
  return body;
}

/** Inverse of encodeEndRequest; a body that is not exactly 8 bytes is FCGI_PROTOCOL_ERROR. */
export function decodeEndRequest(content: Uint8Array): EndRequestBody {
  const body = fixedBody(content, 'END_REQUEST');
  return { appStatus: body.readUInt32BE(0), protocolStatus: body[4] };
}

/** FCGI_UnknownTypeBody: the record type the application did not understand. */
export function decodeUnknownType(content: Uint8Array): {
  /** The record type the application did not understand. */
  type: number;
} {
  return { type: fixedBody(content, 'UNKNOWN_TYPE')[0] };
}

function fixedBody(content: Uint8Array, what: string): Buffer {
  if (!(content instanceof Uint8Array)) throw new TypeError(`content must be a Uint8Array, got ${describe(content)}`);
  if (content.length !== 8) {
    throw clientError('FCGI_PROTOCOL_ERROR', `${what} body must be 8 bytes, got ${content.length}`);
  }
  return asBuffer(content);
}
