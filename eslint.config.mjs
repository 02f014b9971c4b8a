// ESLint 9 flat config: typescript-eslint's type-aware recommended rules on the TypeScript (tsconfig.json's
// project: lib, test, examples, bench), the plain recommended rules on the CommonJS/ESM scripts. Formatting is
// Prettier's job (.prettierrc.json), so no stylistic rules here. `npm run lint` runs this.
import comments from '@eslint-community/eslint-plugin-eslint-comments';
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: [
      'dist/**',
      'dist-typecheck/**',
      'build/**',
      'build-cmake/**',
      'build-system-libfcgi/**',
      'ext/**',
      'prebuilds/**',
      'coverage/**',
      'docs/**',
      'bench/results/**',
      'test/fuzz/build/**',
    ],
  },
  {
    // An eslint-disable says why on the same line (`-- reason`), names its rule, and is removed when unused.
    plugins: { '@eslint-community/eslint-comments': comments },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      '@eslint-community/eslint-comments/require-description': 'error',
      '@eslint-community/eslint-comments/no-unlimited-disable': 'error',
    },
  },
  {
    files: ['**/*.ts'],
    extends: [js.configs.recommended, ...tseslint.configs.recommendedTypeChecked],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
      globals: { ...globals.node },
    },
    rules: {
      // Bug-finding rules stay on at their recommended level: no-floating-promises, no-misused-promises,
      // await-thenable, require-await, no-unsafe-* (values from JSON.parse and the addon are typed at the
      // boundary, lib/native.ts, instead).
      // Unused names: tsc's noUnusedLocals already fails the typecheck; the ESLint rule also flags unused
      // parameters of callbacks whose signature is fixed by Node or jest, so `_`-prefixed ones are allowed.
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none', ignoreRestSiblings: true },
      ],
      // Re-rejecting a caught error (typed unknown) passes it on unchanged; new rejections are Errors.
      '@typescript-eslint/prefer-promise-reject-errors': ['error', { allowThrowingUnknown: true }],
      // `import x = require('y')` is how a .d.ts module re-exports a CommonJS `export =` (test/types).
      '@typescript-eslint/no-require-imports': ['error', { allowAsImport: true }],
      // `let timer` declared before the closures that clear it and assigned after them is the intended shape
      // (a const there would be read before it is initialised).
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
      // The header, CGI-param and NUL checks match control characters on purpose (rejecting CR/LF/NUL in
      // header values and params is the point of those regular expressions).
      'no-control-regex': 'off',
    },
  },
  {
    files: ['test/**/*.ts'],
    rules: {
      // jest's asymmetric matchers (expect.objectContaining, expect.stringContaining, expect.any) are typed
      // `any` by @types/jest, so every `toThrow(expect.objectContaining(...))` would be flagged; in tests
      // the matcher checks the value at run time anyway.
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      // Framework fixtures declare route handlers async so the framework awaits them, and tests write async
      // generators without an await as AsyncIterable sources.
      '@typescript-eslint/require-await': 'off',
    },
  },
  {
    files: ['**/*.js', '**/*.cjs'],
    extends: [js.configs.recommended],
    languageOptions: { sourceType: 'commonjs', globals: { ...globals.node } },
    rules: {
      'no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
    },
  },
  {
    files: ['**/*.mjs'],
    extends: [js.configs.recommended],
    languageOptions: { sourceType: 'module', globals: { ...globals.node } },
  },
);
