// One error module (issue 14): every code lib/errors.ts declares is raised somewhere (lib/ or native/) and
// named by a test; the client's import path offers the same codes.
import fs from 'fs';
import path from 'path';
import ts from 'typescript';
import * as clientErrors from '../../lib/client/errors';
import * as errors from '../../lib/errors';

const root = path.join(__dirname, '..', '..');

function filesUnder(dir: string, exts: string[]): string[] {
  return fs
    .readdirSync(path.join(root, dir), { recursive: true, encoding: 'utf8' })
    .filter((f) => exts.some((e) => f.endsWith(e)))
    .map((f) => path.join(root, dir, f));
}

/** The string literals of the code unions in lib/errors.ts, and that file's text without those declarations. */
function declaredCodes(): { codes: string[]; rest: string } {
  const file = path.join(root, 'lib/errors.ts');
  const text = fs.readFileSync(file, 'utf8');
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, true);
  const codes: string[] = [];
  let rest = text;
  sf.forEachChild((node) => {
    if (!ts.isTypeAliasDeclaration(node) || !/ErrorCode$/.test(node.name.text)) return;
    const visit = (n: ts.Node): void => {
      if (ts.isLiteralTypeNode(n) && ts.isStringLiteral(n.literal)) codes.push(n.literal.text);
      n.forEachChild(visit);
    };
    visit(node.type);
    rest = rest.replace(node.getFullText(sf), '');
  });
  return { codes, rest };
}

describe('error codes', () => {
  const { codes, rest } = declaredCodes();
  const sources = [
    rest,
    ...[...filesUnder('lib', ['.ts']), ...filesUnder('native', ['.cc', '.h'])]
      .filter((f) => f !== path.join(root, 'lib/errors.ts'))
      .map((f) => fs.readFileSync(f, 'utf8')),
  ].join('\n');
  const tests = filesUnder('test', ['.ts'])
    .filter((f) => f !== __filename)
    .map((f) => fs.readFileSync(f, 'utf8'))
    .join('\n');

  test("the unions were read (the server's and the client's codes)", () => {
    expect(codes).toEqual(
      expect.arrayContaining(['FCGI_NO_REQUEST', 'FCGI_PROTOCOL_ERROR', 'FCGI_PARAMS_ERROR', 'FCGI_TIMEOUT', 'ERR_OUT_OF_RANGE']),
    );
    expect(new Set(codes).size).toBe(codes.length); // each code declared once
  });

  test.each(declaredCodes().codes)('%s is raised somewhere in lib/ or native/', (code) => {
    expect(sources.includes(`'${code}'`) || sources.includes(`"${code}"`)).toBe(true);
  });

  test.each(declaredCodes().codes)('%s is named by a test', (code) => {
    expect(tests.includes(code)).toBe(true);
  });

  test('libfcgi/client re-exports the one error module', () => {
    expect(clientErrors.clientError).toBe(errors.clientError);
    expect(clientErrors.clientError('FCGI_TIMEOUT', 'x').code).toBe('FCGI_TIMEOUT');
  });
});
