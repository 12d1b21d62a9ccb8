// ESLint 9 flat config: typescript-eslint's recommended rules. Prettier owns the layout; the one length rule here
// catches what Prettier does not wrap (comments). The type-aware presets are left out: on this tree they took
// about 60 s alone and mostly flagged deliberate patterns (`x[i]!` indexing, node:test's unawaited `test()`).
import eslint from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'bench/.work/', 'pipelines/demo-out/', '.fer-dag/', 'schemas/types/'] },
  eslint.configs.recommended,
  ...tseslint.configs.recommended,
  {
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      // Prettier breaks code at 120; what is left over 120 is a comment (or a line with a trailing one).
      'max-len': [
        'error',
        { code: 120, ignoreUrls: true, ignoreStrings: true, ignoreTemplateLiterals: true, ignoreRegExpLiterals: true },
      ],
      // `const { dropped: _dropped, ...rest } = x` omits a field; a leading underscore says "unused on purpose".
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_', ignoreRestSiblings: true },
      ],
    },
  },
  // The web page served by `fer-dag serve` runs in the browser; the pipeline scripts and configs run in Node.
  { files: ['serve/page/**/*.js'], languageOptions: { globals: globals.browser } },
  { files: ['**/*.mjs', '*.js', '*.cjs'], languageOptions: { globals: globals.node } },
);
