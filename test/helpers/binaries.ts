// Finds the server binaries integration tests need; skips outside CI, fails under CI=true.
import { execFileSync } from 'child_process';
import fs from 'fs';

const SEARCH_PATH = (process.env.PATH ?? '').split(':').concat(['/usr/sbin', '/usr/local/sbin', '/sbin']);

/** Absolute path of an executable, or undefined when it is not installed. */
export function findBinary(name: string): string | undefined {
  for (const dir of SEARCH_PATH) {
    const candidate = `${dir}/${name}`;
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

export const underCI = process.env.CI === 'true' || process.env.CI === '1';

/**
 * Returns `describe` when every binary exists. Outside CI a missing binary gives `describe.skip` with a message
 * naming it; under CI it gives a suite that fails, because CI installs them and a silent skip would hide that.
 */
export function describeWithBinaries(names: string[]): jest.Describe {
  const missing = names.filter((n) => findBinary(n) === undefined);
  if (missing.length === 0) return describe;
  const message = `missing server binaries: ${missing.join(', ')} (install them: see .ci/run)`;
  if (underCI) {
    const failing = ((title: string) =>
      describe(title, () => {
        test(message, () => {
          throw new Error(`${message}; under CI=true this is a failure, not a skip`);
        });
      })) as unknown as jest.Describe;
    return failing;
  }
  console.warn(`skipping: ${message}`);
  return describe.skip;
}

/** Runs a command and returns its stdout; throws with stderr included when it fails. */
export function run(cmd: string, args: string[], opts: { cwd?: string } = {}): string {
  return execFileSync(cmd, args, { cwd: opts.cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}
