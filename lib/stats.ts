// Counters for operators: what server.stats() and fcgi.stats() return, and the status page built from them.
import { findParam } from './env';
import { argRangeError, argTypeError } from './errors';
import type { NativeStats } from './native';

/**
 * A snapshot of a server's counters, from {@link Server.stats} (the concurrent server) or
 * {@link FastCGI.stats} (the accept loop). Totals count since the server started listening.
 */
export interface Stats {
  /** When the server started listening (ms since the epoch). */
  startTime: number;
  /** Milliseconds since then. */
  uptime: number;
  /** Connections open: idle plus busy plus queued. */
  connectionsOpen: number;
  /** Connections open without a request being served on them: new ones with no bytes yet and kept-alive ones between requests. */
  connectionsIdle: number;
  /** Connections a request is being served on (one per request in flight). */
  connectionsBusy: number;
  /** Requests handed to the application and not ended yet. */
  requestsInFlight: number;
  /**
   * Connections with a request ready that wait for a free worker (the concurrent server at `concurrency`);
   * always 0 in the accept loop, whose waiting requests sit in the listen backlog where they cannot be counted.
   */
  requestsQueued: number;
  /** Requests handed to the application (the status page's own requests included). */
  accepted: number;
  /** Requests that ended, whatever the outcome (aborted and failed ones included). */
  completed: number;
  /**
   * Requests the web server aborted or that were cut (client gone, FCGI_ABORT_REQUEST, a write error, close
   * timeout), as seen before the request ended: a write that fails only after the app finished (the accept
   * loop's last output with END_REQUEST; output the concurrent server's worker still writes after the handler
   * returned) is not counted.
   */
  aborted: number;
  /** Requests whose handler threw or rejected (the concurrent server; in the accept loop the app's own loop catches errors, so 0). */
  failed: number;
  /** Bytes of params and request body received by the application (params counted as received, body as delivered). */
  bytesIn: number;
  /**
   * Response bytes the application wrote (FCGI_STDOUT; strings counted in UTF-16 code units, exact for ASCII),
   * record framing not included.
   */
  bytesOut: number;
  /** Connections the request gate closed for a protocol error before the app saw a request (0 without the gate: a system libfcgi). */
  refusedByGate: number;
  /**
   * Connections closed by connection limits: the idle ones closed to make room over `maxConnections` or when
   * accept() runs out of descriptors, and the incomplete requests closed (oldest first) to keep what the gate
   * holds under `maxBufferedBytes`.
   */
  refusedByLimits: number;
  /**
   * Bytes the request gate holds now for requests it is still reading (their params and small body so far),
   * over all connections; bounded by `maxBufferedBytes` (0 without the gate: a system libfcgi).
   */
  gateBufferedBytes: number;
}

/** @internal the counters a server keeps; stats() adds the native connection counts. */
export class Counters {
  readonly startTime = Date.now();
  accepted = 0;
  completed = 0;
  aborted = 0;
  failed = 0;
  bytesIn = 0;
  bytesOut = 0;

  snapshot({ idle, queued, refusedByLimits, refusedByGate = 0, gateBufferedBytes = 0 }: NativeStats): Stats {
    const inFlight = this.accepted - this.completed;
    return {
      startTime: this.startTime,
      uptime: Date.now() - this.startTime,
      connectionsOpen: idle + inFlight + queued,
      connectionsIdle: idle,
      connectionsBusy: inFlight,
      requestsInFlight: inFlight,
      requestsQueued: queued,
      accepted: this.accepted,
      completed: this.completed,
      aborted: this.aborted,
      failed: this.failed,
      bytesIn: this.bytesIn,
      bytesOut: this.bytesOut,
      refusedByGate,
      refusedByLimits,
      gateBufferedBytes,
    };
  }
}

/** @internal checks options.statusPath: undefined, or a path starting with '/'. */
export function checkStatusPath(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw argTypeError('options.statusPath', 'of type string', value);
  if (!value.startsWith('/') || /[?#\s]/.test(value)) {
    throw argRangeError('options.statusPath', 'a path starting with "/" without "?", "#" or spaces', value);
  }
  return value;
}

/**
 * @internal the status page's format for a request whose SCRIPT_NAME, or REQUEST_URI's path, is `statusPath`;
 * undefined for any other request (it goes to the application).
 */
export function statusRequest(params: string, statusPath: string): 'text' | 'json' | undefined {
  const uri = findParam(params, 'REQUEST_URI');
  const path = uri === undefined ? undefined : uri.split('?', 1)[0];
  if (findParam(params, 'SCRIPT_NAME') !== statusPath && path !== statusPath) return undefined;
  const query = new URLSearchParams(findParam(params, 'QUERY_STRING') ?? (uri?.includes('?') ? uri.slice(uri.indexOf('?') + 1) : ''));
  return query.has('json') ? 'json' : 'text';
}

const LABELS: [keyof Stats, string][] = [
  ['startTime', 'start time'],
  ['uptime', 'uptime ms'],
  ['connectionsOpen', 'connections open'],
  ['connectionsIdle', 'connections idle'],
  ['connectionsBusy', 'connections busy'],
  ['requestsInFlight', 'requests in flight'],
  ['requestsQueued', 'requests queued'],
  ['accepted', 'accepted requests'],
  ['completed', 'completed requests'],
  ['aborted', 'aborted requests'],
  ['failed', 'failed requests'],
  ['bytesIn', 'bytes in'],
  ['bytesOut', 'bytes out'],
  ['refusedByGate', 'refused by gate'],
  ['refusedByLimits', 'refused by limits'],
  ['gateBufferedBytes', 'gate buffered bytes'],
];

/** @internal the status page (head and body as raw CGI output), as PHP-FPM's pm.status_path page: text or JSON. */
export function statusPage(stats: Stats, format: 'text' | 'json', server: string): string {
  const headers = 'Status: 200 OK\r\nCache-Control: no-store\r\nContent-Type: ';
  if (format === 'json') return `${headers}application/json\r\n\r\n${JSON.stringify({ server, ...stats })}\n`;
  const lines = [`server:               ${server}`];
  for (const [key, label] of LABELS) {
    const value = key === 'startTime' ? new Date(stats.startTime).toISOString() : String(stats[key]);
    lines.push(`${`${label}:`.padEnd(22)}${value}`);
  }
  return `${headers}text/plain; charset=utf-8\r\n\r\n${lines.join('\n')}\n`;
}

/** What operators can switch on, in both servers ({@link createServer}'s options and {@link FastCGI}'s). */
export interface OperatorOptions {
  /**
   * Answers requests whose SCRIPT_NAME, or the path of whose REQUEST_URI, is this path (e.g. `'/fcgi-status'`)
   * with a status page built from stats(), as PHP-FPM's `pm.status_path`: plain text, or JSON with `?json` in
   * the query. Those requests never reach the application. Off by default; restrict who can reach it in the
   * web server (README: "Operating it").
   */
  statusPath?: string;
  /**
   * Milliseconds: a request still running this long gets one line (method, URI, time so far), written while
   * it runs: to the process's stderr in the accept loop, to the request's FCGI_STDERR (the web server's error
   * log) in the concurrent server. Off by default.
   */
  slowRequestThreshold?: number;
}

/** @internal the option names of OperatorOptions (listen options checks let them through). */
export const OPERATOR_KEYS: readonly string[] = ['statusPath', 'slowRequestThreshold'];
