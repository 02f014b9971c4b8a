// How `libfcgi serve` (and `libfcgi run`) start an app's module: Node's type stripping, else tsx, else a clear message.
import { pathToFileURL } from 'url';
import { UsageError } from '../../lib/cli/args';
import { nodeArgsForModule, nodeTypeStripping, typeScriptUnsupportedMessage } from '../../lib/cli/load-module';

const noTsx = (): undefined => undefined;

describe('running an app module', () => {
  test('JavaScript runs as it is', () => {
    expect(nodeArgsForModule('app.js', 'none', noTsx)).toEqual([]);
    expect(nodeArgsForModule('app.mjs', 'none', noTsx)).toEqual([]);
    expect(nodeArgsForModule('app.cjs', 'none', noTsx)).toEqual([]);
  });

  test("TypeScript uses Node's own type stripping first: on already, or behind --experimental-strip-types", () => {
    expect(nodeArgsForModule('app.ts', 'on', () => '/p/node_modules/tsx/dist/loader.mjs')).toEqual([]);
    expect(nodeArgsForModule('app.mts', 'flag', () => '/p/node_modules/tsx/dist/loader.mjs')).toEqual(['--experimental-strip-types']);
  });

  test("without type stripping, tsx from the app's project", () => {
    const tsx = '/p/node_modules/tsx/dist/loader.mjs';
    expect(nodeArgsForModule('app.ts', 'none', () => tsx)).toEqual(['--import', pathToFileURL(tsx).href]);
  });

  test('neither: a UsageError that says what to install (shown without a stack trace)', () => {
    expect(() => nodeArgsForModule('app.cts', 'none', noTsx)).toThrow(UsageError);
    expect(() => nodeArgsForModule('app.ts', 'none', noTsx)).toThrow(/app\.ts is TypeScript.*npm install --save-dev tsx/s);
    expect(typeScriptUnsupportedMessage('x.ts')).toContain(`Node ${process.versions.node}`);
  });

  test('type stripping is detected from process.features.typescript and the flags this Node accepts', () => {
    expect(nodeTypeStripping({ typescript: 'strip' }, new Set())).toBe('on');
    expect(nodeTypeStripping({ typescript: false }, new Set(['--experimental-strip-types']))).toBe('flag');
    expect(nodeTypeStripping({}, new Set(['--inspect']))).toBe('none');
    // Node 20 (this project's minimum) has neither.
    if (Number(process.versions.node.split('.')[0]) < 22) expect(nodeTypeStripping()).toBe('none');
  });
});
