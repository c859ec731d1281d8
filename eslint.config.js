import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: [
      'node_modules',
      'generated',
      '.data',
      '.tools',
      'dist',
      'coverage',
      'bench/results',
      'client/openapi.d.ts',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: { process: 'readonly', console: 'readonly', URL: 'readonly' },
      // Type information for the promise rules below, from the tsconfig.json that covers each file.
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      // A promise nobody awaits loses its failure. Fire-and-forget is written `void promise` with
      // the reason beside it (workflow code starts its coroutines that way by design).
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
    },
  },
  {
    // Plain JavaScript (this file, scripts/*.mjs) is outside tsconfig.json: no type information.
    files: ['**/*.js', '**/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
  },
  {
    // Workflow code runs in Temporal's deterministic sandbox: no clocks or randomness of its own.
    files: ['workflows/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['node:*'], message: 'Workflows are deterministic: no Node APIs.' },
            {
              group: ['@temporalio/activity', '@temporalio/worker', '@temporalio/client'],
              message: 'Not for workflow code.',
            },
            {
              group: ['**/activities/*', '**/shared/db.ts'],
              allowTypeImports: true,
              message: 'Call activities through proxyActivities.',
            },
          ],
        },
      ],
    },
  },
);
