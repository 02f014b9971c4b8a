// What the loaded native addon was built from: fcgi2 version, ext/patches applied, build switches.
import { native, type BuildInfo } from './native';

export type { BuildInfo };

/**
 * The build-info record of the native addon this process loaded: a prebuilt binary from `prebuilds/` and a
 * source build (`npm rebuild libfcgi`) of the same version report the same record. With
 * `--use_system_libfcgi=true`, `systemLibfcgi` is true, `patches` is empty and `features` lists what that
 * library lacks by omission.
 *
 * @example
 * ```ts
 * import { buildInfo } from 'libfcgi';
 * console.log(buildInfo.fcgi2Version, buildInfo.patches.length);
 * ```
 */
export const buildInfo: Readonly<BuildInfo> = Object.freeze({
  ...native.buildInfo,
  patches: Object.freeze([...native.buildInfo.patches]) as string[],
  features: Object.freeze([...native.buildInfo.features]) as string[],
});
