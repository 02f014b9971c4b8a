// How this Node runs an app's module file (.js/.mjs/.cjs as is; .ts/.mts/.cts by Node's type stripping or tsx),
// shared by `libfcgi serve` and `libfcgi run`.
import path from 'path';
import { pathToFileURL } from 'url';
import { UsageError } from './args';

const JS = new Set(['.js', '.mjs', '.cjs']);
const TS = new Set(['.ts', '.mts', '.cts']);

/** True for the file extensions Node runs as JavaScript (.js .mjs .cjs). */
export function isJavaScriptFile(file: string): boolean {
  return JS.has(path.extname(file).toLowerCase());
}

/** True for TypeScript files (.ts .mts .cts). */
export function isTypeScriptFile(file: string): boolean {
  return TS.has(path.extname(file).toLowerCase());
}

/** What a Node can do with TypeScript by itself: already on, behind a flag, or nothing (Node < 22.6). */
export type TypeStripping = 'on' | 'flag' | 'none';

/**
 * Node's own type stripping in this process's Node: `process.features.typescript` says it is on (22.18+, 23.6+,
 * or with the flag); `--experimental-strip-types` among the flags this Node accepts says it can be turned on
 * (22.6+). Node 20 has neither.
 */
export function nodeTypeStripping(
  features: { typescript?: string | false } = process.features as { typescript?: string | false },
  flags: ReadonlySet<string> = process.allowedNodeEnvironmentFlags,
): TypeStripping {
  if (features.typescript) return 'on';
  if (flags.has('--experimental-strip-types')) return 'flag';
  return 'none';
}

/** tsx's entry as installed in the app's project (resolved from the app's directory up), or undefined. */
export function findTsx(appDir: string): string | undefined {
  try {
    return require.resolve('tsx', { paths: [appDir] });
  } catch {
    return undefined;
  }
}

/** The message when a TypeScript app cannot run: what to install or do, no stack trace. */
export function typeScriptUnsupportedMessage(app: string): string {
  return (
    `${app} is TypeScript, and Node ${process.versions.node} cannot run it by itself (type stripping needs ` +
    `Node 22.6 or later). Install tsx in your project (npm install --save-dev tsx), use a newer Node, or compile ` +
    `the app to JavaScript.`
  );
}

/**
 * The Node options that run the module `file` with this Node (`process.execPath`): none for JavaScript;
 * for TypeScript, Node's own type stripping where this Node has it (`--experimental-strip-types` where it
 * is behind that flag), else `--import <tsx>` when tsx is installed where the app is, else a UsageError that
 * says what to install.
 */
export function nodeArgsForModule(
  file: string,
  stripping: TypeStripping = nodeTypeStripping(),
  lookUpTsx: (appDir: string) => string | undefined = findTsx,
): string[] {
  if (!isTypeScriptFile(file)) return [];
  if (stripping === 'on') return [];
  if (stripping === 'flag') return ['--experimental-strip-types'];
  const tsx = lookUpTsx(path.dirname(path.resolve(file)));
  if (tsx !== undefined) return ['--import', pathToFileURL(tsx).href];
  throw new UsageError(typeScriptUnsupportedMessage(file));
}
