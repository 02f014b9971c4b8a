// HTTP to FastCGI: each HTTP request becomes one FastCGI request; the CGI response becomes the HTTP response.
import type { IncomingMessage, ServerResponse } from 'http';
import type { TLSSocket } from 'tls';
import { CgiResponseParser, type CgiResponseHead } from '../client/cgi-response';
import type { ClientRequest, EndRequest } from '../client/client';
import { requestRejection } from '../client/fcgi-request';
import { applyParamOverrides, BadRequestError, cgiParams, type ParamValue } from './cgi-params';
import type { ConnectionPool, PooledConnection } from './connection-pool';
import { errorCode, explainError } from './explain';
import type { ServeLog } from './log';

export interface GatewayOptions {
  pool: ConnectionPool;
  documentRoot: string;
  scriptName: string | undefined;
  /** --param overrides applied to every request. */
  overrides: ReadonlyArray<readonly [string, string | undefined]>;
  serverSoftware: string;
  /** FastCGI needs CONTENT_LENGTH, so a chunked request body is read whole first, up to this many bytes (else 413). */
  maxChunkedBody: number;
  /** The application's silence that gives 504 (the pool's client timeout); for the message. */
  timeoutMs: number | undefined;
  log: ServeLog;
  /** Why no request can be served now (every worker crash-looping): answered 503 at once with it. */
  unavailable?: () => string | undefined;
}

export interface Gateway {
  handle: (req: IncomingMessage, res: ServerResponse) => void; // a plain function: passed to createServer unbound
  /** Requests whose response has not finished. */
  inFlight(): number;
  /** Resolves when no request is in flight. */
  idle(): Promise<void>;
}

/** Response fields that describe this hop, not the response: Node frames the body itself. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'proxy-connection', 'upgrade', 'trailer', 'te']);
/** Methods nginx may retry on another connection (not POST, LOCK, PATCH). */
const RETRYABLE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);
/** Failures after which the request may never have reached the application's handler. */
const RETRYABLE_ERRORS = new Set(['FCGI_CONNECTION_CLOSED', 'ECONNRESET', 'EPIPE']);
/** Body bytes held back, hoping the whole response fits and can go out with a Content-Length. */
const HOLD_LIMIT = 64 * 1024;
const EMPTY = Buffer.alloc(0);

/** IPv4 peers of a dual-stack socket appear as ::ffff:a.b.c.d; CGI wants a.b.c.d. */
function plainAddress(address: string | undefined): string {
  if (address === undefined) return '';
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

function rawHeaderPairs(raw: string[]): Array<[string, string]> {
  const pairs: Array<[string, string]> = [];
  for (let i = 0; i + 1 < raw.length; i += 2) pairs.push([raw[i], raw[i + 1]]);
  return pairs;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** Reads a chunked request body whole, bounded. */
function readWhole(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let length = 0;
    req.on('data', (chunk: Buffer) => {
      length += chunk.length;
      if (length > limit) {
        req.pause();
        reject(new HttpError(413, `a chunked request body over ${limit} bytes (FastCGI needs CONTENT_LENGTH)`));
        return;
      }
      chunks.push(chunk);
    });
    req.once('end', () => resolve(Buffer.concat(chunks, length)));
    req.once('error', reject);
  });
}

export function createGateway(options: GatewayOptions): Gateway {
  const { pool, log } = options;
  let inFlight = 0;
  let idleWaiters: Array<() => void> = [];

  function handle(req: IncomingMessage, res: ServerResponse): void {
    const started = performance.now();
    inFlight++;
    let bytes = 0;
    let clientGone = false;
    let current: { request: ClientRequest; connection: PooledConnection } | undefined;

    res.once('close', () => {
      if (!res.writableFinished) {
        clientGone = true;
        current?.request.abort();
      }
      log.access({
        method: req.method ?? '',
        target: req.url ?? '',
        status: res.statusCode,
        bytes,
        ms: performance.now() - started,
        clientGone,
      });
      if (--inFlight === 0) {
        const waiters = idleWaiters;
        idleWaiters = [];
        for (const resolve of waiters) resolve();
      }
    });

    /** An error response of our own, when nothing of the application's response was sent yet. */
    const respondError = (status: number, reason: string, detail?: string, shown?: string) => {
      if (detail !== undefined) log.error(`${req.method} ${req.url}: ${detail}`);
      if (res.headersSent) {
        res.destroy(); // the client sees a truncated response, as from nginx when the upstream fails midway
        return;
      }
      const text = `${status} ${reason}\n${shown !== undefined ? `${shown}\n` : ''}`;
      bytes = Buffer.byteLength(text);
      res.writeHead(status, {
        'Content-Type': 'text/plain; charset=utf-8',
        'Content-Length': bytes,
        // an unread request body (413) is not worth reading just to keep the connection
        ...(status === 413 ? { Connection: 'close' } : {}),
      });
      res.end(req.method === 'HEAD' ? undefined : text);
    };

    const method = req.method ?? 'GET';
    const lengthHeader = req.headers['content-length'];
    const chunked = req.headers['transfer-encoding'] !== undefined;
    const declaredLength = lengthHeader === undefined ? undefined : Number(lengthHeader);

    const start = (body: Buffer | IncomingMessage | undefined, contentLength: number | undefined) => {
      const down = options.unavailable?.();
      if (down !== undefined) {
        // Waiting would only end in the client timeout: say at once what is wrong (a development server).
        respondError(503, 'Service Unavailable', down, `libfcgi serve: ${down}`);
        return;
      }
      let params: Array<[string, ParamValue]>;
      try {
        params = cgiParams({
          method,
          target: req.url ?? '/',
          httpVersion: req.httpVersion,
          headers: rawHeaderPairs(req.rawHeaders),
          contentLength,
          https: (req.socket as TLSSocket).encrypted === true,
          remoteAddress: plainAddress(req.socket.remoteAddress),
          remotePort: req.socket.remotePort,
          serverAddress: plainAddress(req.socket.localAddress),
          serverPort: req.socket.localPort ?? 0,
          documentRoot: options.documentRoot,
          scriptName: options.scriptName,
          serverSoftware: options.serverSoftware,
        });
      } catch (err) {
        if (err instanceof BadRequestError) {
          respondError(400, 'Bad Request');
          return;
        }
        throw err;
      }
      params = applyParamOverrides(params, options.overrides);
      const replayable = body === undefined || Buffer.isBuffer(body);
      forward(params, body, replayable && RETRYABLE_METHODS.has(method), 0).catch((err: unknown) => {
        respondError(502, 'Bad Gateway', `unexpected: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      });
    };

    const forward = async (
      params: Array<[string, ParamValue]>,
      body: Buffer | IncomingMessage | undefined,
      retryable: boolean,
      attempt: number,
    ): Promise<void> => {
      let connection: PooledConnection;
      try {
        connection = await pool.acquire(attempt > 0);
      } catch (err) {
        if (clientGone) return;
        if (errorCode(err) === 'FCGI_TIMEOUT') {
          respondError(504, 'Gateway Timeout', `connecting to the application: ${explainError(err)}`);
        } else {
          respondError(502, 'Bad Gateway', `cannot connect to the application: ${explainError(err)}`);
        }
        return;
      }
      if (clientGone) {
        pool.release(connection, true);
        return;
      }
      let request: ClientRequest;
      try {
        request = connection.client.request({ params, body, keepConn: pool.keepConn });
      } catch (err) {
        // the connection closed between acquire and now (the application ended an idle one)
        pool.release(connection, false);
        if (retryable && attempt === 0) return forward(params, body, retryable, attempt + 1);
        respondError(502, 'Bad Gateway', `sending the request: ${explainError(err)}`);
        return;
      }
      current = { request, connection };
      relay(request, connection, () => {
        if (retryable && attempt === 0) void forward(params, body, retryable, attempt + 1);
        return retryable && attempt === 0;
      });
    };

    /**
     * Streams the application's response to the client. `retry` is called for a failure before any output; it
     * returns true when it sent the request again.
     */
    const relay = (request: ClientRequest, connection: PooledConnection, retry: () => boolean) => {
      const { stdout } = request;
      const parser = new CgiResponseParser();
      let stdoutBytes = 0;
      let stdoutEnded = false;
      let end: EndRequest | undefined;
      let failed = false;
      let held: Buffer[] | undefined; // body bytes before the first write (see HOLD_LIMIT)
      let heldBytes = 0;
      /** The HTTP head went out (streaming started, or the whole response was sent). */
      let headSent = false;
      /** The response head from the CGI header: status, reason and fields flattened for writeHead. */
      let status = 200;
      let statusText = '';
      let fields: string[] = [];
      let appSentLength = false;

      request.stderr.on('data', (chunk: Buffer) => process.stderr.write(chunk));

      const write = (chunk: Buffer) => {
        bytes += chunk.length;
        if (!res.write(chunk)) {
          stdout.pause();
          res.once('drain', () => stdout.resume());
        }
      };
      /** Sends the head (with Content-Length when the whole body is known); false when Node refuses a field. */
      const sendHead = (contentLength?: number): boolean => {
        try {
          // Not for 204 and 304, which have no body, nor for HEAD: an app that sends no body for HEAD (PHP) has
          // not said how long the GET body would be.
          if (contentLength !== undefined && !appSentLength && status !== 204 && status !== 304 && method !== 'HEAD') {
            fields.push('Content-Length', String(contentLength));
          }
          res.writeHead(status, statusText || undefined, fields);
          return true;
        } catch (err) {
          fail(502, 'Bad Gateway', `the application's response header is not valid in HTTP: ${explainError(err)}`);
          return false;
        }
      };
      const startWriting = () => {
        if (headSent || failed || clientGone) return;
        if (!sendHead()) return;
        headSent = true;
        const chunks = held ?? [];
        held = undefined;
        for (const chunk of chunks) write(chunk);
      };
      const fail = (status: number, reason: string, detail: string) => {
        if (failed) return;
        failed = true;
        request.abort();
        stdout.destroy();
        respondError(status, reason, detail);
      };
      const takeHead = (head: CgiResponseHead) => {
        if (head.status < 200 || head.status > 999) throw new Error(`the application sent status ${head.status}`);
        if (/[^\t\x20-\x7e\x80-\xff]/.test(head.statusText)) throw new Error('the Status reason has control characters');
        status = head.status;
        statusText = head.statusText;
        fields = [];
        for (const [name, value] of head.headers) {
          const lower = name.toLowerCase();
          if (HOP_BY_HOP.has(lower)) continue;
          if (lower === 'content-length') appSentLength = true;
          fields.push(name, value);
        }
      };
      const finish = () => {
        if (failed || !stdoutEnded || end === undefined) return;
        const rejection = requestRejection(end.protocolStatus);
        if (rejection) {
          fail(502, 'Bad Gateway', rejection.message);
          return;
        }
        try {
          parser.end();
        } catch (err) {
          fail(502, 'Bad Gateway', explainError(err));
          return;
        }
        if (headSent) {
          res.end();
        } else {
          // The whole body is here: one write, with a Content-Length.
          const body = held === undefined ? EMPTY : held.length === 1 ? held[0] : Buffer.concat(held, heldBytes);
          held = undefined;
          headSent = true; // a startWriting still scheduled must not send another head
          if (!sendHead(body.length)) return;
          bytes += body.length;
          res.end(body);
        }
      };

      stdout.on('data', (chunk: Buffer) => {
        if (failed) return;
        stdoutBytes += chunk.length;
        let body = chunk;
        if (parser.head === undefined) {
          try {
            body = parser.push(chunk);
            if (parser.head === undefined) return;
            takeHead(parser.head);
          } catch (err) {
            fail(502, 'Bad Gateway', `the application's response is not a valid CGI response: ${explainError(err)}`);
            return;
          }
        }
        if (body.length === 0 || clientGone) return;
        if (headSent) {
          write(body);
          return;
        }
        if (held === undefined) {
          held = [];
          setImmediate(startWriting); // more output is coming later: stream it from the next turn on
        }
        held.push(body);
        heldBytes += body.length;
        if (heldBytes > HOLD_LIMIT) startWriting();
      });
      stdout.once('end', () => {
        stdoutEnded = true;
        finish();
      });
      request.done.then(
        (result) => {
          end = result;
          pool.release(connection, !clientGone && !failed && result.protocolStatus === 0);
          finish();
        },
        (err: unknown) => {
          pool.release(connection, false);
          if (failed || clientGone) return;
          if (stdoutBytes === 0 && RETRYABLE_ERRORS.has(errorCode(err) ?? '') && retry()) {
            failed = true; // this attempt is over; the retry owns the response now
            return;
          }
          if (errorCode(err) === 'FCGI_TIMEOUT') {
            fail(504, 'Gateway Timeout', `the application sent nothing for ${options.timeoutMs} ms`);
          } else {
            fail(502, 'Bad Gateway', explainError(err));
          }
        },
      );
    };

    try {
      dispatch();
    } catch (err) {
      respondError(500, 'Internal Server Error', `unexpected: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    }

    function dispatch(): void {
      if (chunked) {
        readWhole(req, options.maxChunkedBody).then(
          (body) => start(body.length === 0 ? undefined : body, body.length),
          (err: unknown) => {
            if (err instanceof HttpError) respondError(err.status, 'Payload Too Large', err.message);
            else respondError(400, 'Bad Request');
          },
        );
      } else if (declaredLength !== undefined && declaredLength > 0) {
        start(req, declaredLength);
      } else {
        start(undefined, declaredLength);
      }
    }
  }

  return {
    handle,
    inFlight: () => inFlight,
    idle: () => (inFlight === 0 ? Promise.resolve() : new Promise((resolve) => idleWaiters.push(resolve))),
  };
}
