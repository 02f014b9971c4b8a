// The CGI response head (Status + header fields): validation and formatting, shared by the sync and async requests.
import { STATUS_CODES } from 'http';
import { argRangeError, argTypeError, fcgiError, emitWarningNow } from './errors';

/** One header field's value: a string, a number, or an array of them for a repeated field. */
export type HeaderValue = string | number | readonly (string | number)[];
/** Header fields; an array gives a repeated field (Set-Cookie). `Status` may be given here too. */
export type HeaderFields = Readonly<Record<string, HeaderValue | undefined>>;

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// CR, LF and NUL would split or end the header block (response splitting); other C0 controls and DEL
// are refused as Node's http does. TAB is allowed.
const BAD_VALUE = /[\x00-\x08\x0a-\x1f\x7f]/;

function headerError(message: string, code = 'ERR_INVALID_HEADER'): TypeError & { code: string } {
  const err = new TypeError(message) as TypeError & { code: string };
  err.code = code;
  return err;
}

function checkValue(name: string, value: string | number): string {
  if (typeof value === 'number') {
    if (!Number.isFinite(value))
      throw headerError(`The value of header ${name} must be a finite number, got ${value}`, 'ERR_INVALID_ARG_VALUE');
    return String(value);
  }
  if (typeof value !== 'string') {
    throw headerError(
      `The value of header ${name} must be a string or a number (an array of them repeats the field)`,
      'ERR_INVALID_ARG_TYPE',
    );
  }
  if (BAD_VALUE.test(value)) {
    const err = new TypeError(
      `Invalid character in the value of header "${name}" (CR, LF, NUL and control characters are not allowed)`,
    ) as TypeError & {
      code: string;
    };
    err.code = 'ERR_INVALID_HEADER';
    throw err;
  }
  return value;
}

function statusLine(code: number, reason?: string): string {
  if (typeof code !== 'number') throw argTypeError('code', 'of type number', code);
  if (!Number.isInteger(code) || code < 100 || code > 999) throw argRangeError('code', 'an integer from 100 to 999', code);
  const text = reason === undefined ? (STATUS_CODES[code] ?? '') : checkValue('Status', reason);
  return text ? `${code} ${text}` : String(code);
}

/** Collects the response head until the first body byte; then it is sent once and frozen. */
export class ResponseHead {
  private fields = '';
  private status: string | undefined;
  /** header() or status() was called: the head is ours to send. */
  used = false;
  /** The head went out (or raw output started): no more header()/status(). */
  sent = false;

  private checkOpen(what: string): void {
    if (this.sent) {
      throw fcgiError(
        'FCGI_HEADERS_SENT',
        `${what}: the response head was already sent (or raw output started with print() before header())`,
      );
    }
  }

  add(fields: HeaderFields): void {
    this.checkOpen('header()');
    if (typeof fields !== 'object' || fields === null || Array.isArray(fields)) throw argTypeError('fields', 'an object', fields);
    // Validate everything before changing anything: a refused call leaves the head as it was.
    let out = '';
    let status = this.status;
    for (const name of Object.keys(fields)) {
      const value = fields[name];
      if (value === undefined) continue;
      if (!TOKEN.test(name)) {
        const err = new TypeError(
          `Invalid header name ${JSON.stringify(name)}: must be an HTTP token (no CR, LF, NUL, spaces or colons)`,
        ) as TypeError & {
          code: string;
        };
        err.code = 'ERR_INVALID_HEADER';
        throw err;
      }
      if (name.toLowerCase() === 'status') {
        if (Array.isArray(value)) throw headerError('The Status header takes one value, not an array', 'ERR_INVALID_ARG_VALUE');
        status = typeof value === 'number' ? statusLine(value) : parseStatusField(checkValue(name, value as string));
        continue;
      }
      if (Array.isArray(value)) {
        for (const v of value as readonly (string | number)[]) out += `${name}: ${checkValue(name, v)}\r\n`;
      } else {
        out += `${name}: ${checkValue(name, value as string | number)}\r\n`;
      }
    }
    this.fields += out;
    this.status = status;
    this.used = true;
  }

  setStatus(code: number, reason?: string): void {
    this.checkOpen('status()');
    this.status = statusLine(code, reason);
    this.used = true;
  }

  /** The status code set so far (200 when none). */
  get statusCode(): number {
    return this.status === undefined ? 200 : Number.parseInt(this.status, 10);
  }

  /** Marks raw output: the application writes its own CGI headers. */
  markRaw(): void {
    this.sent = true;
  }

  /** The head as CGI text, ending with the blank line; marks it sent. */
  take(): string {
    this.sent = true;
    const head = (this.status === undefined ? '' : `Status: ${this.status}\r\n`) + this.fields + '\r\n';
    if (head.length > LARGE_HEAD_BYTES) warnLargeHead(head.length);
    return head;
  }
}

/** Web servers refuse larger response heads by default (nginx fastcgi_buffer_size: 4 or 8 KiB → 502). */
export const LARGE_HEAD_BYTES = 8192;
let largeHeadWarned = false;

function warnLargeHead(length: number): void {
  if (largeHeadWarned) return;
  largeHeadWarned = true;
  emitWarningNow(
    `libfcgi: a response head of ${length} bytes (over ${LARGE_HEAD_BYTES}): web servers refuse such heads by default ` +
      '(nginx answers 502 "upstream sent too big header" unless fastcgi_buffer_size is raised). Warned once per process.',
    'FCGI_LARGE_HEAD',
  );
}

function parseStatusField(value: string): string {
  const m = /^(\d{3})(?:\s+(.*))?$/.exec(value.trim());
  if (!m) throw headerError(`The Status header must be "<3-digit code> [reason]", got ${JSON.stringify(value)}`, 'ERR_INVALID_ARG_VALUE');
  return statusLine(Number(m[1]), m[2]);
}
