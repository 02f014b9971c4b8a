// The request gate's scanner (native/gate.cc) unit-tested in C++, built with g++/gcc under ASan + UBSan and run:
// test/gate/gate_test.cc (the scanner alone) and test/gate/handover_test.cc (its hand-over parsed by the patched
// fcgi2 from memory, patch 0019). Their checks print their names when they fail.
import { execFileSync, spawnSync } from 'child_process';
import fs from 'fs';
import path from 'path';

const root = path.join(__dirname, '..', '..');
const outDir = path.join(root, 'build', 'gate-test');
const sanitize = ['-g', '-O1', '-fsanitize=address,undefined', '-fno-sanitize-recover=undefined'];
const fcgi2Include = ['-I', path.join(root, 'ext/fcgi2/include'), '-I', path.join(root, 'ext/config')];
const at = (f: string): string => path.join(root, f);

function newerThan(binary: string, sources: string[]): boolean {
  if (!fs.existsSync(binary)) return false;
  const built = fs.statSync(binary).mtimeMs;
  return sources.every((f) => fs.statSync(at(f)).mtimeMs < built);
}

function compile(tool: string, args: string[]): void {
  execFileSync(tool, args, { stdio: ['ignore', 'inherit', 'inherit'] });
}

function run(binary: string): void {
  const result = spawnSync(binary, [], { encoding: 'utf8', env: { ...process.env, ASAN_OPTIONS: 'detect_leaks=1' } });
  expect(result.stderr).toBe('');
  expect(result.status).toBe(0);
  expect(result.stdout).toMatch(/^ok \d+ checks/);
}

const cxx = process.env.CXX ?? 'g++';
const cc = process.env.CC ?? 'gcc';
const cxxFlags = ['-std=c++17', '-Wall', '-Wextra', '-Werror', ...sanitize];

describe('request gate scanner (C++)', () => {
  beforeAll(() => fs.mkdirSync(outDir, { recursive: true }));

  test('split at every byte, announced-not-sent params, cut headers, GET_VALUES of 65535 bytes, unknown types, ABORT, limits, bodies under and over 64 KiB, padding, zero-length records, watch mode', () => {
    const binary = path.join(outDir, 'gate_test');
    const sources = ['test/gate/gate_test.cc', 'native/gate.cc', 'native/gate.h'];
    if (!newerThan(binary, sources)) compile(cxx, [...cxxFlags, at(sources[0]), at(sources[1]), '-o', binary]);
    run(binary);
  }, 180000);

  test('a hand-over given to fcgi2 with FCGX_SetPreread parses as the same request from memory; a body over the small body goes on from the socket', () => {
    const binary = path.join(outDir, 'handover_test');
    const sources = [
      'test/gate/handover_test.cc',
      'native/gate.cc',
      'native/gate.h',
      'ext/fcgi2/libfcgi/fcgiapp.c',
      'ext/fcgi2/libfcgi/os_unix.c',
      'ext/fcgi2/include/fcgiapp.h',
    ];
    if (!newerThan(binary, sources)) {
      const objects = ['fcgiapp', 'os_unix'].map((name) => {
        const object = path.join(outDir, `${name}.o`);
        compile(cc, [...sanitize, '-w', ...fcgi2Include, '-c', at(`ext/fcgi2/libfcgi/${name}.c`), '-o', object]);
        return object;
      });
      compile(cxx, [...cxxFlags, ...fcgi2Include, at(sources[0]), at(sources[1]), ...objects, '-o', binary]);
    }
    run(binary);
  }, 180000);
});
