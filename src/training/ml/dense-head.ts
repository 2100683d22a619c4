/**
 * The head as exported, Teachable Machine's shape: Dense(hidden, relu) → Dense(classes, softmax, no bias). Every
 * head trainer delivers its weights in this form; the gate scales its output kernel.
 */
import type * as TF from '@tensorflow/tfjs';
import { EMBEDDING_SIZE } from '../../config/model-shape';

/** The trained head as plain arrays, ready to be placed into the exported model. */
export interface HeadWeights {
  hiddenUnits: number;
  classCount: number;
  /** [1280, hidden] */
  hiddenKernel: Float32Array;
  hiddenBias: Float32Array;
  /** [hidden, classes]; the output layer has no bias, as in Teachable Machine. */
  outputKernel: Float32Array;
}

/** The head's logits for `embeddings` (n × 1280), in one pass of the backend (n × classes). */
export function batchLogits(tf: typeof TF, weights: HeadWeights, embeddings: Float32Array): Float32Array {
  return tf.tidy(
    () =>
      headForward(
        tf,
        tf.tensor2d(embeddings, [embeddings.length / EMBEDDING_SIZE, EMBEDDING_SIZE]),
        tf.tensor2d(weights.hiddenKernel, [EMBEDDING_SIZE, weights.hiddenUnits]),
        tf.tensor1d(weights.hiddenBias),
        tf.tensor2d(weights.outputKernel, [weights.hiddenUnits, weights.classCount]),
      ).dataSync() as Float32Array,
  );
}

/** Dense(relu) → Dense(no bias): the head's logits for the rows of `x`. */
export function headForward(
  tf: typeof TF,
  x: TF.Tensor,
  hiddenKernel: TF.Tensor,
  hiddenBias: TF.Tensor,
  outputKernel: TF.Tensor,
): TF.Tensor2D {
  return tf.matMul(tf.relu(tf.matMul(x, hiddenKernel).add(hiddenBias)), outputKernel);
}

/** Class probabilities of the exported head for one embedding, computed in plain JavaScript (for evaluation). */
export function headProbabilities(weights: HeadWeights, embedding: Float32Array): Float32Array {
  return softmax(headLogits(weights, embedding));
}

export function softmax(logits: Float32Array): Float32Array {
  let max = -Infinity;
  for (const l of logits) max = Math.max(max, l);
  const exp = logits.map((l) => Math.exp(l - max));
  const sum = exp.reduce((a, b) => a + b, 0);
  return exp.map((e) => e / sum);
}

/** The head's logits (the output layer before its softmax) for one embedding, in plain JavaScript. */
export function headLogits(weights: HeadWeights, embedding: Float32Array): Float32Array {
  const { hiddenUnits: h, classCount: k } = weights;
  const x = embedding;
  const hidden = weights.hiddenBias.slice();
  for (let f = 0; f < x.length; f++) {
    const v = x[f];
    if (v === 0) continue;
    for (let u = 0; u < h; u++) hidden[u] += v * weights.hiddenKernel[f * h + u];
  }
  const logits = new Float32Array(k);
  for (let u = 0; u < h; u++) {
    const v = Math.max(0, hidden[u]);
    if (v === 0) continue;
    for (let c = 0; c < k; c++) logits[c] += v * weights.outputKernel[u * k + c];
  }
  return logits;
}

/**
 * The head as exported, built the way Teachable Machine builds it:
 * Sequential[ Dense(hidden, relu), Dense(classes, softmax, no bias) ], weights set.
 */
export function buildExportHead(tf: typeof TF, weights: HeadWeights): TF.Sequential {
  const head = tf.sequential({
    layers: [
      tf.layers.dense({ units: weights.hiddenUnits, activation: 'relu', inputShape: [EMBEDDING_SIZE] }),
      tf.layers.dense({ units: weights.classCount, activation: 'softmax', useBias: false }),
    ],
  });
  const values = [
    tf.tensor2d(weights.hiddenKernel, [EMBEDDING_SIZE, weights.hiddenUnits]),
    tf.tensor1d(weights.hiddenBias),
    tf.tensor2d(weights.outputKernel, [weights.hiddenUnits, weights.classCount]),
  ];
  head.setWeights(values);
  tf.dispose(values);
  return head;
}
