// The package version, read from package.json (two levels up from both lib/cli and dist/cli).
import fs from 'fs';
import path from 'path';

let cached: string | undefined;

export function packageVersion(): string {
  if (cached === undefined) {
    const file = path.join(__dirname, '..', '..', 'package.json');
    cached = (JSON.parse(fs.readFileSync(file, 'utf8')) as { version: string }).version;
  }
  return cached;
}

/** SERVER_SOFTWARE: "libfcgi/0.1.0". */
export function serverSoftware(): string {
  return `libfcgi/${packageVersion()}`;
}
