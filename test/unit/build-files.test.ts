// The two builds (node-gyp primary, cmake-js second) compile the same sources: this keeps them in step.
import fs from 'fs';
import path from 'path';

const root = path.join(__dirname, '..', '..');
const read = (f: string): string => fs.readFileSync(path.join(root, f), 'utf8');

function sorted(list: Iterable<string>): string[] {
  return [...new Set(list)].sort();
}

describe('build files', () => {
  test('binding.gyp and CMakeLists.txt list the same native sources, and every native/*.cc is built', () => {
    const gyp = sorted(read('binding.gyp').match(/native\/[\w-]+\.cc/g) ?? []);
    const cmake = sorted(read('CMakeLists.txt').match(/native\/[\w-]+\.cc/g) ?? []);
    const onDisk = sorted(
      fs
        .readdirSync(path.join(root, 'native'))
        .filter((f) => f.endsWith('.cc'))
        .map((f) => `native/${f}`),
    );
    expect(gyp.length).toBeGreaterThan(0);
    expect(cmake).toEqual(gyp);
    expect(onDisk).toEqual(gyp);
  });

  test('ext/fcgi2.gyp and ext/fcgi2.cmake compile the same vendored files', () => {
    const gyp = sorted(read('ext/fcgi2.gyp').match(/fcgi2\/libfcgi\/[\w-]+\.c/g) ?? []);
    const cmake = sorted(read('ext/fcgi2.cmake').match(/fcgi2\/libfcgi\/[\w-]+\.c/g) ?? []);
    expect(gyp).toEqual(['fcgi2/libfcgi/fcgiapp.c', 'fcgi2/libfcgi/os_unix.c']);
    expect(cmake).toEqual(gyp);
  });
});
