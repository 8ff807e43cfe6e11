// ESLint over lib/, scripts/, test/ and examples/ (npm run lint; CI fails on
// any finding). It checks for bugs, not layout: TypeScript gets
// typescript-eslint's recommended rules with type information (tsconfig.json),
// which include no-floating-promises, no-misused-promises, await-thenable and
// the no-unsafe-* rules on `any`; JavaScript gets ESLint's recommended rules.
import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default defineConfig(
  { ignores: ['dist/', 'build/', 'prebuilds/', 'node_modules/', 'coverage/'] },
  js.configs.recommended,
  {
    files: ['**/*.ts'],
    extends: [tseslint.configs.recommendedTypeChecked],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // A promise returned from inside try without await escapes its catch and finally.
      '@typescript-eslint/return-await': ['error', 'in-try-catch'],
      // sort() without a comparator orders numbers as strings.
      '@typescript-eslint/require-array-sort-compare': ['error', { ignoreStringArrays: true }],
      // A switch over a union that misses a member falls through silently.
      '@typescript-eslint/switch-exhaustiveness-check': ['error', { considerDefaultExhaustiveForUnions: true }],
      eqeqeq: ['error', 'smart'],
      // `const { dropped: _, ...rest } = o` names what it leaves out.
      '@typescript-eslint/no-unused-vars': ['error', { ignoreRestSiblings: true }],
      // Rejecting with what a worker threw (typed unknown) passes the error on as it is.
      '@typescript-eslint/prefer-promise-reject-errors': ['error', { allowThrowingUnknown: true }],
      // Not enabled: no-unnecessary-condition, which flags the run-time checks
      // of arguments that plain JavaScript callers may get wrong.
    },
  },
  {
    // Tests hand wrong types to the API on purpose (`as any`, JSON, mocks of
    // the addon): `any` flowing through them is the point, not a bug. They
    // also wrap synchronous stand-ins as async functions where an API takes
    // one (require-await).
    files: ['test/**/*.ts'],
    rules: {
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
    },
  },
  {
    // lib/checkpoint/ is being changed on another branch; its two findings (an
    // assertion that changes nothing in config.ts, an `any` from
    // Object.entries in safetensors.ts) are fixed there. Remove this block
    // once that lands.
    files: ['lib/checkpoint/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unnecessary-type-assertion': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    languageOptions: { globals: { ...globals.node } },
  },
  {
    files: ['**/*.js'],
    languageOptions: { sourceType: 'commonjs' },
  },
);
