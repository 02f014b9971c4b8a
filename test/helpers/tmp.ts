// Per-test temporary directories (short paths: unix socket paths are limited to 107 bytes).
import fs from 'fs';
import os from 'os';
import path from 'path';

/** A fresh directory under the OS temp dir; remove it with `fs.rmSync(dir, { recursive: true, force: true })`. */
export function makeTempDir(prefix = 'fcgi-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** A fresh temp dir as a handle for closeAfterEach/closeAfterAll: close() removes it with its contents. */
export function tempDir(prefix = 'fcgi-'): { path: string; close(): void } {
  const dir = makeTempDir(prefix);
  return { path: dir, close: () => fs.rmSync(dir, { recursive: true, force: true }) };
}
