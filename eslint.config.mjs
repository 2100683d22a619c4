// Lint rules (`npm run lint`, run by .ci/run): typescript-eslint's recommended set, and the project's boundaries.
import tseslint from 'typescript-eslint';

/** One adapter per outside party: each of these packages is imported in its owner folder only. */
const OWNERS = [
  {
    owner: 'src/training/ml',
    group: ['@tensorflow/*', 'onnxruntime-node', 'onnxruntime-node/*'],
    message: 'TensorFlow.js and ONNX Runtime are used in src/training/ml only.',
  },
  { owner: 'src/dataset', group: ['sharp'], message: 'sharp (image decoding) is used in src/dataset only.' },
];

/** Outside training/ml, the pipeline is used through its index.ts only. */
const ML_INDEX_ONLY = { group: ['**/ml/*'], message: 'Import training/ml through its index.ts (training/ml).' };

/** For each folder, the rule naming everything it may not import (one rule per file: a later one would replace it). */
const boundaries = [...OWNERS.map(({ owner }) => owner), null].map((folder) => ({
  files: folder ? [`${folder}/**/*.ts`] : ['src/**/*.ts'],
  ignores: ['src/**/*.test.ts', ...(folder ? [] : OWNERS.map(({ owner }) => `${owner}/**`))],
  rules: {
    'no-restricted-imports': [
      'error',
      {
        patterns: [
          ...OWNERS.filter(({ owner }) => owner !== folder).map(({ group, message }) => ({ group, message })),
          ...(folder === 'src/training/ml' ? [] : [ML_INDEX_ONLY]),
        ],
      },
    ],
  },
}));

export default tseslint.config(
  { ignores: ['dist/**', 'dist-test/**', 'node_modules/**', 'model/**'] },
  ...tseslint.configs.recommended,
  {
    rules: {
      // `const { dropped, ...kept } = value` is how a field is left out.
      '@typescript-eslint/no-unused-vars': ['error', { ignoreRestSiblings: true }],
    },
  },
  // Tests read JSON answers of any shape.
  { files: ['test/**/*.ts', 'src/**/*.test.ts'], rules: { '@typescript-eslint/no-explicit-any': 'off' } },
  ...boundaries,
);
