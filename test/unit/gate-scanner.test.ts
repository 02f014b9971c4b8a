// The request gate's scanner (native/gate.cc) unit-tested in C++: test/gate/gate_test.cc built with g++ under
// ASan + UBSan and run. Its checks print their names when they fail.
import { execFileSync, spawnSync } from 'child_process';
import fs from 'fs';
import path from 'path';

const root = path.join(__dirname, '..', '..');
const sources = ['test/gate/gate_test.cc', 'native/gate.cc', 'native/gate.h'].map((f) => path.join(root, f));
const outDir = path.join(root, 'build', 'gate-test');
const binary = path.join(outDir, 'gate_test');

function upToDate(): boolean {
  if (!fs.existsSync(binary)) return false;
  const built = fs.statSync(binary).mtimeMs;
  return sources.every((f) => fs.statSync(f).mtimeMs < built);
}

describe('request gate scanner (C++)', () => {
  beforeAll(() => {
    if (upToDate()) return;
    fs.mkdirSync(outDir, { recursive: true });
    execFileSync(
      process.env.CXX ?? 'g++',
      [
        '-std=c++17', '-g', '-O1', '-Wall', '-Wextra', '-Werror',
        '-fsanitize=address,undefined', '-fno-sanitize-recover=undefined',
        sources[0], sources[1], '-o', binary,
      ],
      { stdio: ['ignore', 'inherit', 'inherit'] },
    );
  }, 180000);

  test('split at every byte, announced-not-sent params, cut headers, GET_VALUES of 65535 bytes, unknown types, ABORT, limits, bodies under and over 64 KiB, padding, zero-length records, watch mode', () => {
    const run = spawnSync(binary, [], { encoding: 'utf8', env: { ...process.env, ASAN_OPTIONS: 'detect_leaks=1' } });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(run.stdout).toMatch(/^ok \d+ checks/);
  });
});
