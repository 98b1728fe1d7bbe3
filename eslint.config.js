import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ["dist/**", "node_modules/**", ".cache/**", "files/www/**", "native/build/**"] },
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': 'off',
    },
  },
);
