// What `libfcgi serve` tells a person: access log lines on stdout, lifecycle and errors on stderr.

export interface AccessEntry {
  method: string;
  /** The request target as received. */
  target: string;
  status: number;
  /** Response body bytes sent. */
  bytes: number;
  ms: number;
  /** The client closed the connection before the response was complete. */
  clientGone?: boolean;
}

/**
 * Access lines are collected and written once per event-loop turn: under load that is one write for many
 * requests instead of one syscall each (stdout to a pipe or file is synchronous).
 */
export class ServeLog {
  private pending = '';
  private flushScheduled = false;

  constructor(
    private readonly prefix: string,
    private readonly quiet: boolean,
  ) {}

  /** Always shown: where it listens. */
  banner(message: string): void {
    this.flush();
    process.stdout.write(`${this.prefix}: ${message}\n`);
  }

  /** Lifecycle (worker started/exited); hidden by --quiet. */
  info(message: string): void {
    if (!this.quiet) process.stderr.write(`${this.prefix}: ${message}\n`);
  }

  /** Always shown: something went wrong (a worker crashed, the app sent a bad response). */
  error(message: string): void {
    process.stderr.write(`${this.prefix}: ${message}\n`);
  }

  access(entry: AccessEntry): void {
    if (this.quiet) return;
    const time = new Date().toISOString();
    // A client that gave up is logged as nginx does (499), not with the status the response would have had.
    const status = entry.clientGone ? '499' : String(entry.status);
    const note = entry.clientGone ? ' client closed the connection before the response was complete' : '';
    this.pending += `${time} ${entry.method} ${entry.target} ${status} ${entry.bytes} ${entry.ms.toFixed(1)}ms${note}\n`;
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  flush(): void {
    this.flushScheduled = false;
    if (this.pending === '') return;
    const text = this.pending;
    this.pending = '';
    process.stdout.write(text);
  }
}
