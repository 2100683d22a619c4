/**
 * The linear softmax head: multinomial logistic regression on standardised embeddings, fitted to convergence by
 * L-BFGS, with outlier exposure on the negative bank. The standardisation is folded into the weights (logits =
 * x·W + b on the raw embedding), and the head is exported in Teachable Machine's two Dense layers, exactly:
 * relu(x·[W, −W] + [b, −b]) · [I; −I] = x·W + b, since relu(u) − relu(−u) = u.
 */
import type * as TF from '@tensorflow/tfjs';
import { EMBEDDING_SIZE } from '../../config/model-shape';
import type { HeadWeights } from './dense-head';
import type { EmbeddingEngineChoice } from '../../config/ml-choices';
import { DEFAULT_LBFGS_OPTIONS, minimizeLbfgs } from './lbfgs';
import { TaskStoppedError } from './task-stop';
import { rowProducts } from './row-products';
import { embeddingRow, type TrainingSet } from './training-set';

export interface LinearHeadRecipe {
  kind: 'linear';
  /**
   * L2 penalty on the weights of the standardised features, divided by the number of classes: each class's weights
   * are fitted to about 1/classes of the rows, so a shop with more products needs less of it per class. The bias is
   * not penalised.
   */
  l2: number;
  /** Loss weight of the negative rows together, against 1 for the shop's rows together. */
  negativeWeight: number;
  /** A feature's standard deviation is √(variance + varianceFloor · mean variance): a feature that barely varies
   * among the shop's photos cannot get an outsized weight. */
  varianceFloor: number;
  /**
   * The fit stops when an iteration lowers the objective by less than this (times the objective when that is above 1),
   * or at maxIterations.
   */
  tolerance: number;
  maxIterations: number;
}

export interface LinearHeadFit {
  /** In the exported form (see the top of this file). */
  weights: HeadWeights;
  iterations: number;
  evaluations: number;
  loss: number;
  stop: string;
}

/** What a fit may be given besides its rows and recipe. */
export interface LinearFitOptions {
  /** Hears an estimate of the share done. */
  onProgress?: (fraction: number) => void;
  /**
   * Where the fit starts (the last model's head, its classes in the data's order): a retrain's answer is close to
   * the last one, so far fewer iterations reach it.
   */
  start?: LinearWeights;
  /** What does the fit's products with its rows (see rowProducts); `auto` when not given. */
  engine?: EmbeddingEngineChoice;
  /** Asked before every evaluation: true ends the fit with TaskStoppedError (a cancelled training). */
  stopped?: () => boolean;
}

/** Fits the head to all rows of `data` (and its negatives). */
export async function fitLinearHead(
  tf: typeof TF,
  data: TrainingSet,
  recipe: LinearHeadRecipe,
  { onProgress, start, engine = 'auto', stopped }: LinearFitOptions = {},
): Promise<LinearHeadFit> {
  const d = EMBEDDING_SIZE;
  const k = data.classCount;
  const shopRows = data.labels.length;
  const { mean, std } = featureStatistics(data, recipe.varianceFloor);
  const negativeRows = recipe.negativeWeight > 0 && data.negatives ? data.negatives.photos.length : 0;
  const n = shopRows + negativeRows;
  const rowWeights = new Float64Array(n);
  rowWeights.fill(1 / shopRows, 0, shopRows);
  rowWeights.fill(recipe.negativeWeight / negativeRows, shopRows);
  // A shop row's target is its class; a negative row's is every class alike (as float32, as it always was stored).
  const negativeTarget = Math.fround(1 / k);
  const l2 = recipe.l2 / k;
  const products = await rowProducts(tf, standardisedRows(data, negativeRows, mean, std), n, engine);
  // The weights as the products take them, in float32.
  const kernel = new Float32Array(d * k);
  const bias = new Float32Array(k);
  const rowGradient = new Float32Array(n * k);
  /** A row's exp(logit − its largest), reused for its probabilities. */
  const exps = new Float64Array(k);
  try {
    // Weighted cross-entropy plus the penalty. The products with the rows (X·W and Xᵀ·G) are rowProducts'; the
    // softmax of the n × classes logits is done here, in float64, so that the line search sees the objective's small
    // changes near convergence.
    const objective = async (params: Float64Array, gradient: Float64Array): Promise<number> => {
      if (stopped?.()) throw new TaskStoppedError();
      kernel.set(params.subarray(0, d * k));
      bias.set(params.subarray(d * k));
      const logits = await products.times(kernel, k);
      let loss = 0;
      gradient.fill(0, d * k);
      for (let r = 0; r < n; r++) {
        const at = r * k;
        let max = -Infinity;
        for (let c = 0; c < k; c++) {
          logits[at + c] += bias[c];
          max = Math.max(max, logits[at + c]);
        }
        let sum = 0;
        for (let c = 0; c < k; c++) sum += exps[c] = Math.exp(logits[at + c] - max);
        const logSum = max + Math.log(sum);
        const label = r < shopRows ? data.labels[r] : -1;
        for (let c = 0; c < k; c++) {
          const target = label < 0 ? negativeTarget : c === label ? 1 : 0;
          const error = exps[c] / sum - target;
          // An error of under NEGLIGIBLE_ERROR counts as none: its products with the rows would be denormal floats,
          // which slow the CPU's products down a hundredfold (one evaluation of a toy fit of 800 products took 36 s
          // instead of 0.8 s), and change no float32 sum they join.
          const g = Math.abs(error) < NEGLIGIBLE_ERROR ? 0 : rowWeights[r] * error;
          if (target) loss += rowWeights[r] * target * (logSum - logits[at + c]);
          rowGradient[at + c] = g;
          gradient[d * k + c] += g;
        }
      }
      const gradKernel = await products.transposedTimes(rowGradient, k);
      let penalty = 0;
      for (let i = 0; i < d * k; i++) {
        penalty += params[i] * params[i];
        gradient[i] = gradKernel[i] + l2 * params[i];
      }
      return loss + (l2 / 2) * penalty;
    };
    const result = await minimizeLbfgs(
      objective,
      start ? unfoldStandardisation(start, mean, std) : new Float64Array(d * k + k),
      { ...DEFAULT_LBFGS_OPTIONS, relativeTolerance: recipe.tolerance, maxIterations: recipe.maxIterations },
      // How many iterations the fit needs is not known ahead (15-25 for shops here): halving what is left every
      // PROGRESS_HALF_LIFE iterations moves the progress smoothly and never claims the end before it.
      (iteration) => onProgress?.(1 - 0.5 ** (iteration / PROGRESS_HALF_LIFE)),
    );
    return {
      weights: asDenseLayers(foldStandardisation(result.x, mean, std, k)),
      iterations: result.iterations,
      evaluations: result.evaluations,
      loss: result.value,
      stop: result.stop,
    };
  } finally {
    products.dispose();
  }
}

const PROGRESS_HALF_LIFE = 5;
const NEGLIGIBLE_ERROR = 1e-20;

/** The shop's rows and then the negatives', standardised: [rows, 1280], row-major. */
function standardisedRows(
  data: TrainingSet,
  negativeRows: number,
  mean: Float64Array,
  std: Float64Array,
): Float32Array {
  const d = EMBEDDING_SIZE;
  const shopRows = data.labels.length;
  const x = new Float32Array((shopRows + negativeRows) * d);
  for (let r = 0; r < shopRows; r++) {
    const e = embeddingRow(data, r);
    for (let j = 0; j < d; j++) x[r * d + j] = (e[j] - mean[j]) / std[j];
  }
  if (negativeRows) {
    const { bytes, scale } = data.negatives!;
    for (let i = 0; i < negativeRows; i++) {
      const at = (shopRows + i) * d;
      for (let j = 0; j < d; j++) x[at + j] = (bytes[i * d + j] * scale - mean[j]) / std[j];
    }
  }
  return x;
}

/** Per feature, the mean and (floored) standard deviation over the shop's rows. */
function featureStatistics(data: TrainingSet, varianceFloor: number) {
  const d = EMBEDDING_SIZE;
  const rows = data.labels.length;
  const sum = new Float64Array(d);
  const squares = new Float64Array(d);
  for (let r = 0; r < rows; r++) {
    const e = embeddingRow(data, r);
    for (let j = 0; j < d; j++) {
      sum[j] += e[j];
      squares[j] += e[j] * e[j];
    }
  }
  const mean = sum.map((s) => s / rows);
  const variance = squares.map((s, j) => Math.max(0, s / rows - mean[j] * mean[j]));
  const floor = varianceFloor * (variance.reduce((a, b) => a + b, 0) / d) || 1e-12;
  return { mean, std: variance.map((v) => Math.sqrt(v + floor)) };
}

/** x·W + b on the raw embedding: W is [1280, classes]. */
export interface LinearWeights {
  classCount: number;
  kernel: Float32Array;
  bias: Float32Array;
}

/** z = ((x − μ)/σ)·W + b = x·(W/σ) + (b − Σ μ·W/σ). */
function foldStandardisation(params: Float64Array, mean: Float64Array, std: Float64Array, k: number): LinearWeights {
  const d = EMBEDDING_SIZE;
  const kernel = new Float32Array(d * k);
  const bias = Float64Array.from(params.subarray(d * k));
  for (let j = 0; j < d; j++) {
    for (let c = 0; c < k; c++) {
      const w = params[j * k + c] / std[j];
      kernel[j * k + c] = w;
      bias[c] -= mean[j] * w;
    }
  }
  return { classCount: k, kernel, bias: Float32Array.from(bias) };
}

/** foldStandardisation's inverse: the standardised fit's parameters (W·σ, b + Σ μ·W) of a head on raw embeddings. */
function unfoldStandardisation(start: LinearWeights, mean: Float64Array, std: Float64Array): Float64Array {
  const d = EMBEDDING_SIZE;
  const k = start.classCount;
  const params = new Float64Array(d * k + k);
  params.set(start.bias, d * k);
  for (let j = 0; j < d; j++) {
    for (let c = 0; c < k; c++) {
      const w = start.kernel[j * k + c];
      params[j * k + c] = w * std[j];
      params[d * k + c] += mean[j] * w;
    }
  }
  return params;
}

/**
 * Where a retrain starts: `head`'s linear part (a head this file made: its hidden layer's first classes units are W
 * and b), its classes `from` put in the order of `to` (a class it did not know starts at zero). Null for a head of
 * another shape (the MLP's), or one that knew none of the classes.
 */
export function linearStart(head: HeadWeights, from: readonly string[], to: readonly string[]): LinearWeights | null {
  if (head.hiddenUnits !== 2 * head.classCount || from.length !== head.classCount) return null;
  const indexOf = new Map(from.map((id, c) => [id, c]));
  const classes = to.map((id) => indexOf.get(id) ?? -1);
  if (classes.every((c) => c < 0)) return null;
  const hidden = { classCount: head.hiddenUnits, kernel: head.hiddenKernel, bias: head.hiddenBias };
  return startForClasses(hidden, classes);
}

/** `start` for a fit on some of its classes (`classes[i]` is the class that becomes class i; -1: zero, a new one). */
export function startForClasses(start: LinearWeights, classes: readonly number[]): LinearWeights {
  const k = classes.length;
  const kernel = new Float32Array(EMBEDDING_SIZE * k);
  for (let j = 0; j < EMBEDDING_SIZE; j++)
    classes.forEach((c, i) => {
      if (c >= 0) kernel[j * k + i] = start.kernel[j * start.classCount + c];
    });
  return { classCount: k, kernel, bias: Float32Array.from(classes, (c) => (c >= 0 ? start.bias[c] : 0)) };
}

/** The linear head as Dense(2·classes, relu) → Dense(classes, no bias), computing exactly x·W + b. */
export function asDenseLayers({ classCount: k, kernel, bias }: LinearWeights): HeadWeights {
  const h = 2 * k;
  const hiddenKernel = new Float32Array(EMBEDDING_SIZE * h);
  for (let j = 0; j < EMBEDDING_SIZE; j++) {
    for (let c = 0; c < k; c++) {
      hiddenKernel[j * h + c] = kernel[j * k + c];
      hiddenKernel[j * h + k + c] = -kernel[j * k + c];
    }
  }
  const hiddenBias = new Float32Array(h);
  hiddenBias.set(bias);
  hiddenBias.set(
    bias.map((b) => -b),
    k,
  );
  const outputKernel = new Float32Array(h * k);
  for (let c = 0; c < k; c++) {
    outputKernel[c * k + c] = 1;
    outputKernel[(k + c) * k + c] = -1;
  }
  return { hiddenUnits: h, classCount: k, hiddenKernel, hiddenBias, outputKernel };
}
