// Command-line parsing for the libfcgi commands: util.parseArgs with usage errors, numbers and addresses.
import { parseArgs, type ParseArgsConfig } from 'util';

/** A mistake in the command line: the command prints it with a pointer to --help and exits 2. */
export class UsageError extends Error {
  readonly code = 'USAGE';
}

export type OptionSpecs = NonNullable<ParseArgsConfig['options']>;

export interface ParsedCommandLine {
  values: Record<string, string | boolean | string[] | boolean[] | undefined>;
  positionals: string[];
  /** The arguments after `--`, untouched. */
  rest: string[];
}

/** Parses options anywhere on the line (strict: unknown options are usage errors); `--` ends them. */
export function parseCommandLine(argv: string[], options: OptionSpecs): ParsedCommandLine {
  const terminator = argv.indexOf('--');
  const own = terminator < 0 ? argv : argv.slice(0, terminator);
  const rest = terminator < 0 ? [] : argv.slice(terminator + 1);
  try {
    const { values, positionals } = parseArgs({ args: own, options, allowPositionals: true, strict: true });
    return { values: values as ParsedCommandLine['values'], positionals, rest };
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

/** An integer option in [min, max], or `fallback` when absent. */
export function integerOption(value: unknown, name: string, min: number, max: number, fallback: number): number {
  if (value === undefined) return fallback;
  // eslint-disable-next-line @typescript-eslint/no-base-to-string -- an object gives "[object Object]", which the digit check below rejects
  const text = String(value);
  const n = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new UsageError(`--${name} wants an integer from ${min} to ${max}, got ${JSON.stringify(text)}`);
  }
  return n;
}

export type SocketAddress = { path: string } | { host: string; port: number };

const HOST_PORT = /^(?:\[([^\]]+)\]|([^:/[\]]*)):(\d+)$/;

/**
 * "host:port", ":port" (127.0.0.1), "[::1]:port" or a bare port number give TCP (with `allowBarePort`); anything
 * else is a unix socket path ("app.sock", "/tmp/x.sock", "./9000").
 */
export function parseSocketAddress(text: string, what: string, allowBarePort = false): SocketAddress {
  if (text === '') throw new UsageError(`${what} wants a socket path or host:port, got an empty string`);
  const match = HOST_PORT.exec(text) ?? (allowBarePort && /^\d+$/.test(text) ? [text, undefined, '', text] : null);
  if (match === null) return { path: text };
  const port = Number(match[3]);
  if (!Number.isInteger(port) || port > 65535) throw new UsageError(`${what}: port must be 0 to 65535, got ${match[3]}`);
  return { host: match[1] ?? (match[2] || '127.0.0.1'), port };
}

/** "127.0.0.1:8080", "[::1]:8080", "/tmp/x.sock" */
export function formatSocketAddress(address: SocketAddress): string {
  if ('path' in address) return address.path;
  return address.host.includes(':') ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
}
