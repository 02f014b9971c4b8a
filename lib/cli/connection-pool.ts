// Connections from the HTTP front end to the FastCGI application: kept open between requests (FCGI_KEEP_CONN) or not.
import { FastCGIClient, type ConnectTarget } from '../client/client';

export interface ConnectionPoolOptions {
  /** Send FCGI_KEEP_CONN and reuse connections (default true); false: one connection per request, as CGI. */
  keepConn: boolean;
  /** FastCGIClient timeout: connecting, and the application's silence while a request waits (ms). */
  timeoutMs: number | undefined;
  /** Idle connections kept at most; more are closed when released. Default 64. */
  maxIdle?: number;
  /** An idle connection unused this long is closed (below libfcgi's default idleTimeout of 60 s). Default 30 s. */
  idleMs?: number;
}

/** A connection lent to one request. */
export interface PooledConnection {
  readonly client: FastCGIClient;
  /** It served a request before: a failure may mean the application closed it while idle. */
  readonly reused: boolean;
}

interface IdleConnection {
  client: FastCGIClient;
  since: number;
}

/**
 * The application handles one request per connection at a time (the sync accept loop), so a connection is lent to
 * one request at a time: no multiplexing. Idle ones are reused newest first (warm, and the others age out).
 */
export class ConnectionPool {
  private readonly idle: IdleConnection[] = [];
  private readonly maxIdle: number;
  private readonly idleMs: number;
  private sweeper: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly target: ConnectTarget,
    private readonly options: ConnectionPoolOptions,
  ) {
    this.maxIdle = options.maxIdle ?? 64;
    this.idleMs = options.idleMs ?? 30_000;
  }

  get keepConn(): boolean {
    return this.options.keepConn;
  }

  /**
   * An idle connection, or a new one (always a new one with `fresh`: a retry after a failed connection, whose
   * siblings to the same worker may be failing too). A failed connect rejects with Node's error (ECONNREFUSED,
   * ENOENT, ...).
   */
  async acquire(fresh = false): Promise<PooledConnection> {
    for (let entry = fresh ? undefined : this.idle.pop(); entry !== undefined; entry = this.idle.pop()) {
      if (!entry.client.closed) return { client: entry.client, reused: true };
    }
    const client = await FastCGIClient.connect(this.target, { timeout: this.options.timeoutMs });
    return { client, reused: false };
  }

  /** Returns a connection after its request ended; `reusable` false (an abort, an error) closes it. */
  release(connection: PooledConnection, reusable: boolean): void {
    const { client } = connection;
    if (!reusable || !this.options.keepConn || this.closed || client.closed || this.idle.length >= this.maxIdle) {
      void client.close();
      return;
    }
    this.idle.push({ client, since: Date.now() });
    this.sweeper ??= setInterval(() => this.sweep(), Math.max(1000, this.idleMs / 4)).unref();
  }

  private sweep(): void {
    const cutoff = Date.now() - this.idleMs;
    // oldest first, at the bottom of the stack
    let stale = 0;
    while (stale < this.idle.length && (this.idle[stale].since <= cutoff || this.idle[stale].client.closed)) stale++;
    for (const { client } of this.idle.splice(0, stale)) void client.close();
    if (this.idle.length === 0) {
      clearInterval(this.sweeper);
      this.sweeper = undefined;
    }
  }

  /** Closes the idle connections; connections still lent out are closed when released. */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.sweeper);
    this.sweeper = undefined;
    await Promise.all(this.idle.splice(0).map(({ client }) => client.close()));
  }
}
