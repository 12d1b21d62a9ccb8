// Chosen to change the existing code least (measured with `prettier --check` over the tree): single quotes,
// trailing commas everywhere (Prettier's default, as the code mostly has them), 120-character lines.
/** @type {import('prettier').Config} */
export default {
  printWidth: 120,
  singleQuote: true,
  trailingComma: 'all',
  // The text inside template literals is program output (HTML, CSS, Markdown); formatting it would change bytes.
  embeddedLanguageFormatting: 'off',
};
