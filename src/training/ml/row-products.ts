/**
 * The linear head's fit multiplies its fixed rows X (rows × 1280) by the weights and by the gradient of its loss at
 * every evaluation: nearly all its arithmetic. ONNX Runtime does them when it loads, TensorFlow.js otherwise.
 */
import type * as TF from '@tensorflow/tfjs';
import type { EmbeddingEngineChoice } from '../../config/ml-choices';
import { EMBEDDING_SIZE } from '../../config/model-shape';
import { loadOnnxRuntime, OnnxRowProducts } from './onnx-runtime';

/**
 * X·A and Xᵀ·B for the rows X a fit was made with; both row-major. A product may be handed back in an array that the
 * next call of the same product writes over.
 */
export interface RowProducts {
  /** X·A, A being 1280 × classes: rows × classes. */
  times(operand: Float32Array, classes: number): Promise<Float32Array>;
  /** Xᵀ·B, B being rows × classes: 1280 × classes. */
  transposedTimes(operand: Float32Array, classes: number): Promise<Float32Array>;
  dispose(): void;
}

/**
 * The products with `rows` (rowCount × 1280, row-major; not copied by ONNX Runtime, so not to be changed while in
 * use). `engine` is EMBEDDING_ENGINE: `auto` uses ONNX Runtime when it loads, `onnx` insists on it, `tfjs` never
 * uses it.
 */
export async function rowProducts(
  tf: typeof TF,
  rows: Float32Array,
  rowCount: number,
  engine: EmbeddingEngineChoice,
): Promise<RowProducts> {
  if (engine !== 'tfjs') {
    try {
      loadOnnxRuntime();
    } catch (err) {
      if (engine === 'onnx') throw err;
      return tfjsRowProducts(tf, rows, rowCount);
    }
    return OnnxRowProducts.create(rows, rowCount);
  }
  return tfjsRowProducts(tf, rows, rowCount);
}

/** TensorFlow.js holds X and its transpose: its WebAssembly matMul is about ten times slower with transposeA. */
function tfjsRowProducts(tf: typeof TF, rows: Float32Array, rowCount: number): RowProducts {
  const [xs, xt] = tf.tidy(() => {
    const x = tf.tensor2d(rows, [rowCount, EMBEDDING_SIZE]);
    return [x, tf.transpose(x)];
  });
  const product = (matrix: TF.Tensor2D, operand: Float32Array, shape: [number, number]) => {
    const result = tf.tidy(() => tf.matMul(matrix, tf.tensor2d(operand, shape)));
    try {
      // (tf.tidy must not return the values: it would walk every element.)
      return Promise.resolve(result.dataSync() as Float32Array);
    } finally {
      result.dispose();
    }
  };
  return {
    times: (a, k) => product(xs, a, [EMBEDDING_SIZE, k]),
    transposedTimes: (b, k) => product(xt, b, [rowCount, k]),
    dispose: () => tf.dispose([xs, xt]),
  };
}
