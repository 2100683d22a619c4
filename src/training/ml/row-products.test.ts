/** Unit tests of the fit's products with its rows, by ONNX Runtime and by TensorFlow.js. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { toySet } from '../../../test/support/toy-embeddings';
import { EMBEDDING_SIZE } from '../../config/model-shape';
import { DEFAULT_RECIPE } from '../recipe';
import { loadTensorflow } from './backend';
import { headProbabilities } from './dense-head';
import { fitLinearHead } from './linear-head';
import { rowProducts } from './row-products';
import { mulberry32 } from './training-set';

describe('row products', () => {
  it('are X·A and Xᵀ·B by either engine, to float32 rounding', async () => {
    const { tf } = await loadTensorflow('auto');
    const random = mulberry32(3);
    const [n, k] = [37, 5];
    const rows = Float32Array.from({ length: n * EMBEDDING_SIZE }, () => random() * 4 - 2);
    const a = Float32Array.from({ length: EMBEDDING_SIZE * k }, () => random() - 0.5);
    const b = Float32Array.from({ length: n * k }, () => random() - 0.5);
    const times = new Float64Array(n * k);
    const transposedTimes = new Float64Array(EMBEDDING_SIZE * k);
    for (let r = 0; r < n; r++)
      for (let j = 0; j < EMBEDDING_SIZE; j++)
        for (let c = 0; c < k; c++) {
          times[r * k + c] += rows[r * EMBEDDING_SIZE + j] * a[j * k + c];
          transposedTimes[j * k + c] += rows[r * EMBEDDING_SIZE + j] * b[r * k + c];
        }
    for (const engine of ['onnx', 'tfjs'] as const) {
      const products = await rowProducts(tf, rows, n, engine);
      try {
        const close = (actual: Float32Array, expected: Float64Array, what: string) => {
          assert.equal(actual.length, expected.length, `${engine} ${what}`);
          expected.forEach((e, i) =>
            assert.ok(Math.abs(actual[i] - e) < 1e-4, `${engine} ${what}[${i}]: ${actual[i]} ≠ ${e}`),
          );
        };
        close(await products.times(a, k), times, 'X·A');
        close(await products.transposedTimes(b, k), transposedTimes, 'Xᵀ·B');
        // The same products again: nothing of the first call is left in the second.
        close(await products.times(a, k), times, 'X·A again');
      } finally {
        products.dispose();
      }
    }
  });

  it('give the same head by either engine, within the fit’s tolerance', async () => {
    const { tf } = await loadTensorflow('auto');
    const world = toySet(5, 8);
    const [onnx, tfjs] = await Promise.all(
      (['onnx', 'tfjs'] as const).map((engine) => fitLinearHead(tf, world, DEFAULT_RECIPE, { engine })),
    );
    for (let r = 0; r < world.labels.length; r++) {
      const row = world.embeddings.subarray(r * EMBEDDING_SIZE, (r + 1) * EMBEDDING_SIZE);
      const p = headProbabilities(onnx.weights, row);
      const q = headProbabilities(tfjs.weights, row);
      p.forEach((value, c) => assert.ok(Math.abs(value - q[c]) < 1e-3, `row ${r} class ${c}: ${value} ≠ ${q[c]}`));
    }
  });
});
