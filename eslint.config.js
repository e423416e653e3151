// ESLint flat config: typescript-eslint's recommended rules, nothing stylistic (Prettier owns layout).
import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import tseslint from 'typescript-eslint';

const shared = [
  'console',
  'setTimeout',
  'clearTimeout',
  'setInterval',
  'clearInterval',
  'URL',
  'AbortController',
  'structuredClone',
];
const asGlobals = (names) => Object.fromEntries(names.map((name) => [name, 'readonly']));

export default defineConfig(
  { ignores: ['dist/', 'coverage/', 'node_modules/', 'test/browser/artifacts/'] },
  js.configs.recommended,
  tseslint.configs.recommended,
  {
    rules: {
      // Tests and socket.io payloads are untyped by nature; `any` there is deliberate.
      '@typescript-eslint/no-explicit-any': 'off',
      // `_name` marks a parameter or binding kept for its position or to omit a key from a rest copy.
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_', ignoreRestSiblings: true },
      ],
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    languageOptions: { globals: asGlobals([...shared, 'process', 'Buffer']) },
  },
  {
    files: ['sample/public/**/*.js'],
    languageOptions: {
      globals: asGlobals([...shared, 'document', 'window', 'sessionStorage', 'localStorage', 'fetch', 'location']),
    },
  },
);
