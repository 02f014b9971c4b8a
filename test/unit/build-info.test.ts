// The addon's build-info record says what the sources say: fcgi2's version, every ext/patches file, the features.
import { execFileSync } from 'child_process';
import fs from 'fs';
import path from 'path';
import { buildInfo } from '../../lib';

const root = path.join(__dirname, '..', '..');
const system = process.env.LIBFCGI_SYSTEM === '1';

(system ? describe.skip : describe)('build info (vendored fcgi2)', () => {
  test('names the vendored fcgi2 version and every patch in ext/patches, in order', () => {
    const version = execFileSync(process.execPath, [path.join(root, 'scripts/fcgi2-build-info.js'), 'version'], { encoding: 'utf8' });
    const patches = fs
      .readdirSync(path.join(root, 'ext/patches'))
      .filter((f) => f.endsWith('.patch'))
      .sort()
      .map((f) => f.replace(/\.patch$/, ''));
    expect(version).toBe('2.4.5');
    expect(buildInfo.fcgi2Version).toBe(version);
    expect(buildInfo.systemLibfcgi).toBe(false);
    expect(buildInfo.patches).toEqual(patches);
    expect(patches.length).toBeGreaterThanOrEqual(18);
  });

  test('lists every feature the patched headers give the addon, and the build switches', () => {
    expect(buildInfo.features).toEqual([
      'param-limits',
      'read-ahead',
      'buf-sizes',
      'put-str-close',
      'close-write',
      'preread',
      'spares',
      'params-block',
    ]);
    expect(buildInfo.flags).toMatch(/use_system_libfcgi=false/);
    expect(buildInfo.napiVersion).toBe(8);
    expect(Object.isFrozen(buildInfo)).toBe(true);
  });

  test('a prebuild and a source build in this checkout report the same record', () => {
    const prebuildDir = path.join(root, 'prebuilds', `${process.platform}-${process.arch}`);
    const release = path.join(root, 'build', 'Release');
    const prebuild = fs.existsSync(prebuildDir) ? fs.readdirSync(prebuildDir).find((f) => f.endsWith('.node')) : undefined;
    const built = fs.existsSync(release) ? fs.readdirSync(release).find((f) => f.endsWith('.node')) : undefined;
    if (prebuild === undefined || built === undefined) {
      // npm run test:package compares them in the packed tarball, where both are made from the same sources.
      console.warn(`skipped: needs both ${prebuildDir}/*.node (npm run prebuild) and ${release}/*.node (npm run build:native)`);
      return;
    }
    const record = (file: string): string =>
      execFileSync(process.execPath, ['-e', `console.log(JSON.stringify(require(${JSON.stringify(file)}).buildInfo))`], {
        encoding: 'utf8',
      });
    expect(record(path.join(prebuildDir, prebuild))).toBe(record(path.join(release, built)));
  });
});
