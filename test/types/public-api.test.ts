// The published declarations show only the public API: the request classes' internals (what Server calls on a
// ServerRequest, what the adapters reach) stay behind #private members or module-private symbols (issue 14).
import path from 'path';
import ts from 'typescript';

const root = path.join(__dirname, '..', '..');

/** Emits lib/'s declarations in memory with the build's options (what `npm run build:ts` writes to dist/). */
function emitDeclarations(): Map<string, string> {
  const configPath = path.join(root, 'tsconfig.build.json');
  const config = ts.readConfigFile(configPath, (f) => ts.sys.readFile(f));
  const parsed = ts.parseJsonConfigFileContent(config.config, ts.sys, root, undefined, configPath);
  const program = ts.createProgram(parsed.fileNames, { ...parsed.options, emitDeclarationOnly: true, declaration: true, noEmit: false });
  const out = new Map<string, string>();
  const result = program.emit(undefined, (file, text) => {
    if (file.endsWith('.d.ts')) out.set(path.relative(parsed.options.outDir ?? root, file), text);
  });
  expect(result.diagnostics.map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'))).toEqual([]);
  return out;
}

interface ClassShape {
  members: string[];
  constructorModifiers: string[] | undefined;
}

/** The named members (public or protected: private ones print as `private x`) and the constructor's modifiers. */
function classShape(source: string, file: string, className: string): ClassShape {
  const sf = ts.createSourceFile(file, source, ts.ScriptTarget.ES2022, true);
  let shape: ClassShape | undefined;
  sf.forEachChild((node) => {
    if (!ts.isClassDeclaration(node) || node.name?.text !== className) return;
    const members: string[] = [];
    let constructorModifiers: string[] | undefined;
    for (const m of node.members) {
      const modifiers = (ts.canHaveModifiers(m) ? (ts.getModifiers(m) ?? []) : []).map((x) => ts.tokenToString(x.kind) ?? '');
      if (ts.isConstructorDeclaration(m)) {
        constructorModifiers = modifiers;
        continue;
      }
      if (modifiers.includes('private') || m.name === undefined) continue;
      if (ts.isIdentifier(m.name) || ts.isStringLiteral(m.name)) members.push(m.name.text);
    }
    shape = { members, constructorModifiers };
  });
  if (shape === undefined) throw new Error(`class ${className} not found in ${file}`);
  return shape;
}

const INTERNALS = [
  'inHandlerCall',
  'fail',
  'onData',
  'onWritten',
  'onAborted',
  'scheduleFlush',
  'attach',
  'abortHook',
  'joinedParams',
  'takeWholeBody',
  'generation',
  'slot',
];

describe('published declarations', () => {
  let dts: Map<string, string>;
  beforeAll(() => {
    dts = emitDeclarations();
  }, 120_000);

  test.each([
    ['server.d.ts', 'ServerRequest'],
    ['server.d.ts', 'Server'],
    ['request.d.ts', 'Request'],
    ['fastcgi.d.ts', 'FastCGI'],
  ])('%s: class %s names none of the internals', (file, className) => {
    const { members } = classShape(dts.get(file) ?? '', file, className);
    expect(members.length).toBeGreaterThan(3); // the class was found and read
    expect(members.filter((m) => INTERNALS.includes(m))).toEqual([]);
  });

  test.each([
    ['server.d.ts', 'ServerRequest'],
    ['request.d.ts', 'Request'],
  ])('%s: %s has no public constructor (only the server or the accept loop makes one)', (file, className) => {
    const { constructorModifiers } = classShape(dts.get(file) ?? '', file, className);
    expect(constructorModifiers).toEqual(['private']);
  });

  test('the module-private symbols are not exported from the package', () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- the runtime export list, not the types
    const pkg = require('../../lib') as Record<string, unknown>;
    for (const name of Object.keys(pkg)) expect(name).not.toMatch(/^k[A-Z]|requestControl|NativeFactory/);
    expect(dts.get('index.d.ts')).not.toMatch(/symbols/);
  });
});
