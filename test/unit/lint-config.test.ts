// `npm run lint`'s tools are configured: ESLint's type-aware rules fire, Prettier and clang-format use the
// project's settings (not their defaults), and CI runs the lint. Removing or emptying a config fails here.
import { execFileSync, spawnSync } from 'child_process';
import fs from 'fs';
import path from 'path';
import { describeWithBinaries } from '../helpers/binaries';

const root = path.join(__dirname, '..', '..');
const read = (f: string): string => fs.readFileSync(path.join(root, f), 'utf8');

interface EslintMessage {
  ruleId: string | null;
  line: number;
  message: string;
}

/** Lints `code` as if it were the project file `asFile` (which must be in tsconfig.json for type information). */
function eslint(code: string, asFile: string): EslintMessage[] {
  const run = spawnSync(
    process.execPath,
    [path.join(root, 'node_modules/eslint/bin/eslint.js'), '--stdin', '--stdin-filename', asFile, '-f', 'json'],
    {
      cwd: root,
      input: code,
      encoding: 'utf8',
      timeout: 120000,
    },
  );
  if (run.error) throw run.error;
  const results = JSON.parse(run.stdout) as { messages: EslintMessage[] }[];
  return results[0].messages;
}

function prettier(code: string, asFile: string): string {
  return execFileSync(process.execPath, [path.join(root, 'node_modules/prettier/bin/prettier.cjs'), '--stdin-filepath', asFile], {
    cwd: root,
    input: code,
    encoding: 'utf8',
  });
}

describe('ESLint', () => {
  const source = [
    'async function work(): Promise<void> {}',
    'export function start(): void {',
    '  work();',
    '  setTimeout(async () => {',
    '    await work();',
    '  }, 1);',
    '}',
    '// eslint-disable-next-line @typescript-eslint/no-floating-promises',
    'export const unused = 1;',
    '',
  ].join('\n');
  let messages: EslintMessage[];
  beforeAll(() => {
    messages = eslint(source, 'lib/env.ts');
  }, 150000);

  test('the type-aware rules run on lib/ TypeScript: a floating promise and an async callback where void is expected are errors', () => {
    expect(messages.filter((m) => m.ruleId === null && /parsing error/i.test(m.message))).toEqual([]);
    expect(messages).toContainEqual(expect.objectContaining({ ruleId: '@typescript-eslint/no-floating-promises', line: 3 }));
    expect(messages).toContainEqual(expect.objectContaining({ ruleId: '@typescript-eslint/no-misused-promises', line: 4 }));
  });

  test('an eslint-disable comment without a `-- reason` is an error, and so is one that disables nothing', () => {
    expect(messages).toContainEqual(expect.objectContaining({ ruleId: '@eslint-community/eslint-comments/require-description', line: 8 }));
    expect(messages).toContainEqual(
      expect.objectContaining({ ruleId: null, line: 8, message: expect.stringMatching(/unused eslint-disable/i) }),
    );
  });
});

describe('Prettier', () => {
  test("formats TypeScript with the project's settings: single quotes, trailing commas, 140 columns", () => {
    const long = `export const list = ["${'a'.repeat(50)}", "${'b'.repeat(50)}"];`; // 120 columns: one line at 140, split at 80
    expect(long.length).toBeGreaterThan(100);
    expect(prettier(`${long}\n`, 'lib/example.ts')).toBe(`${long.replace(/"/g, "'")}\n`);
    const wide = `export const x = { ${Array.from({ length: 16 }, (_, i) => `key${i}: ${i}`).join(', ')}, keyLast: 'a longer value to pass 140' };`;
    expect(prettier(`${wide}\n`, 'lib/example.ts')).toMatch(
      /^export const x = \{\n {2}key0: 0,\n[\s\S]*keyLast: 'a longer value to pass 140',\n\};\n$/,
    );
  });

  test('.prettierignore keeps generated and vendored trees out (dist, build, ext, prebuilds, coverage, bench/results)', () => {
    const ignored = read('.prettierignore')
      .split('\n')
      .map((l) => l.trim());
    for (const dir of ['dist/', 'build/', 'ext/', 'prebuilds/', 'coverage/', 'bench/results/']) expect(ignored).toContain(dir);
  });
});

describeWithBinaries(['clang-format'])('clang-format', () => {
  const check = (code: string) =>
    spawnSync('clang-format', ['--style=file', '--assume-filename=native/example.cc', '--dry-run', '-Werror'], {
      cwd: root,
      input: code,
      encoding: 'utf8',
    });

  test("native/ code in the project's style passes, including a line of 110-120 columns (Google style's limit is 80)", () => {
    const call = `  return Combine(${['alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot', 'golf', 'hotel'].map((w) => `${w}Value`).join(', ')});`;
    expect(call.length).toBeGreaterThan(100);
    expect(call.length).toBeLessThanOrEqual(120);
    const code = `namespace libfcgi {\n\nint Combine(int a, int b);\n\nint Sum() {\n${call}\n}\n\n}  // namespace libfcgi\n`;
    const run = check(code);
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
  });

  test('misformatted native/ code fails --dry-run -Werror', () => {
    const run = check('int  Sum( ){return 1;}\n');
    expect(run.status).not.toBe(0);
    expect(run.stderr).toMatch(/code should be clang-formatted/);
  });
});

describe('npm run lint and CI', () => {
  test('npm run lint runs ESLint, Prettier --check and clang-format --dry-run -Werror over native/; npm run format writes both', () => {
    const scripts = (JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts;
    expect(scripts.lint).toMatch(/^eslint \. && prettier --check .+ && clang-format --dry-run -Werror native\/\*\.cc native\/\*\.h$/);
    expect(scripts.format).toMatch(/prettier --write .+ && clang-format -i native\/\*\.cc native\/\*\.h/);
  });

  test('.ci/run installs clang-format and runs npm run lint after npm ci and before the tests', () => {
    const ci = read('.ci/run');
    expect(ci).toMatch(/apt-get install[^\n]*\\\n(?:[^\n]*\\\n)*[^\n]*\bclang-format\b/);
    const lint = ci.indexOf('\nnpm run lint\n');
    expect(lint).toBeGreaterThan(ci.indexOf('\nnpm ci '));
    expect(lint).toBeLessThan(ci.indexOf('\nnpm test\n'));
  });
});

describe('benchmark results in git', () => {
  test('git tracks only the bench/results JSON that bench/README.md quotes as current figures; new runs are ignored', () => {
    const tracked = execFileSync('git', ['ls-files', 'bench/results'], { cwd: root, encoding: 'utf8' }).trim().split('\n').sort();
    expect(tracked).toEqual([
      'bench/results/2026-11-26T0123.json',
      'bench/results/adapters-2026-12-02-quiet.json',
      'bench/results/adapters-2026-12-03-run1.json',
      'bench/results/adapters-2026-12-03-run2.json',
      'bench/results/adapters-2026-12-04-run1.json',
      'bench/results/adapters-2026-12-04-run2.json',
      'bench/results/gate-before-after-5rounds.json',
      'bench/results/gate-before-after.json',
      'bench/results/issue11-run1.json',
      'bench/results/issue11-run2.json',
      'bench/results/issue17-baseline.json',
      'bench/results/issue17-run1.json',
      'bench/results/issue17-run2.json',
    ]);
    const readme = read('bench/README.md');
    expect(readme.match(/\(the figures to quote/g)).toHaveLength(3);
    for (const file of tracked) expect(readme).toContain(file.replace('bench/', ''));
    for (const output of ['bench/results/latest.json', 'bench/results/2030-01-01T0000.json', 'bench/results/profile.json']) {
      expect(spawnSync('git', ['check-ignore', '-q', output], { cwd: root }).status).toBe(0);
    }
  });
});
