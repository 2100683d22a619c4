/**
 * The MLP head trained by Adam over epochs: Teachable Machine's own recipe (Dense(100, relu) → softmax, 50 epochs),
 * reproduced for the benchmarks' side-by-side figures, and the project's former head.
 */
import type * as TF from '@tensorflow/tfjs';
import { EMBEDDING_SIZE } from '../../common/model-shape';
import { headForward, type HeadWeights } from './dense-head';
import { embeddingRow, groupRows, mulberry32, shuffled, storeRow, storeRows, type TrainingSet } from './training-set';

/** How the MLP head is trained. */
export interface MlpRecipe {
  kind: 'mlp';
  /** Units of the hidden Dense(relu) layer; Teachable Machine uses 100. */
  hiddenUnits: number;
  epochs: number;
  batchSize: number;
  learningRate: number;
  /** Targets become (1 − ε)·onehot + ε/classes. */
  labelSmoothing: number;
  /**
   * LogitNorm (Wei et al., 2022): the loss sees the logits divided by τ·‖logits‖, so training cannot make the model
   * surer by growing its logits; 0 trains on the plain logits.
   */
  logitNormTemperature: number;
  /** Dropout on the 1280-float embedding, during training only. */
  inputDropout: number;
  /** Weight every class's loss by (mean class size / class size), so a product with many photos does not dominate. */
  balanceClasses: boolean;
  /** Per-class share of photos held out to choose the best epoch; 0 trains on everything for `epochs` epochs. */
  validationFraction: number;
  /** An epoch shows every photo once, through one of its views picked at random (else every view every epoch). */
  oneViewPerEpoch: boolean;
  /** Export the weights of the epoch with the best held-out accuracy rather than the last epoch's. */
  keepBestEpoch: boolean;
  /** After choosing the epoch count on the held-out photos, train again on all photos for that many epochs. */
  refitOnAll: boolean;
  /**
   * Outlier exposure: photos of things that are not the shop's (`TrainingSet.negatives`) join every epoch with a
   * uniform target over the shop's products, so the head learns to be unsure of what it was not taught. This many
   * negative photos per epoch (one view each), their loss weighted by `negativeWeight`; 0 turns it off.
   */
  negativesPerEpoch: number;
  negativeWeight: number;
  seed: number;
}

export const TEACHABLE_MACHINE_RECIPE: MlpRecipe = {
  kind: 'mlp',
  hiddenUnits: 100,
  epochs: 50,
  batchSize: 16,
  learningRate: 0.001,
  labelSmoothing: 0,
  logitNormTemperature: 0,
  inputDropout: 0,
  balanceClasses: false,
  validationFraction: 0.15,
  oneViewPerEpoch: false,
  keepBestEpoch: false,
  refitOnAll: false,
  negativesPerEpoch: 0,
  negativeWeight: 0,
  seed: 42,
};

export interface MlpTrainingReport {
  weights: HeadWeights;
  /** Accuracy on the held-out photos at the chosen epoch (null when nothing was held out). */
  validationAccuracy: number | null;
  /** Per class: accuracy on its held-out photos, null for a class with none. */
  perClassAccuracy: (number | null)[];
  /** confusion[true][predicted] counts over the held-out photos. */
  confusion: number[][];
  validationPhotos: number;
  /** The photos (TrainingSet.photos values) held out for validation. */
  heldOutPhotos: number[];
  epochsRun: number;
  /** Epoch count finally used for the exported weights. */
  epochsUsed: number;
}

export type EpochListener = (epoch: number, totalEpochs: number) => void;

/** Trains the MLP head on embeddings. Pure apart from TensorFlow: no I/O. */
export async function trainMlpHead(
  tf: typeof TF,
  data: TrainingSet,
  recipe: MlpRecipe,
  onEpoch?: EpochListener,
): Promise<MlpTrainingReport> {
  const rows = data.labels.length;
  const { train, validation } = splitByPhoto(data, recipe.validationFraction, recipe.seed);
  const refit = recipe.refitOnAll && validation.length > 0;
  const totalEpochs = recipe.epochs * (refit ? 2 : 1);

  const first = await fitOnce(tf, data, train, validation, recipe, recipe.epochs, (e) => onEpoch?.(e, totalEpochs));
  let result = first;
  if (refit) {
    const all = Array.from({ length: rows }, (_, i) => i);
    result = await fitOnce(tf, data, all, [], recipe, first.bestEpoch, (e) =>
      onEpoch?.(recipe.epochs + e, totalEpochs),
    );
    onEpoch?.(totalEpochs, totalEpochs);
  }
  return {
    weights: result.weights,
    validationAccuracy: validation.length ? first.bestAccuracy : null,
    perClassAccuracy: first.perClassAccuracy,
    confusion: first.confusion,
    validationPhotos: validation.filter((i) => data.plain[i]).length,
    heldOutPhotos: [...new Set(validation.map((row) => data.photos[row]))],
    epochsRun: first.epochsRun + (refit ? first.bestEpoch : 0),
    epochsUsed: first.bestEpoch,
  };
}

interface FitResult {
  weights: HeadWeights;
  bestEpoch: number;
  bestAccuracy: number;
  perClassAccuracy: (number | null)[];
  confusion: number[][];
  epochsRun: number;
}

async function fitOnce(
  tf: typeof TF,
  data: TrainingSet,
  trainRows: number[],
  validationRows: number[],
  recipe: MlpRecipe,
  epochs: number,
  onEpoch: (epoch: number) => void,
): Promise<FitResult> {
  const k = data.classCount;
  const random = mulberry32(recipe.seed);
  const head = new TrainableHead(tf, recipe, k);
  const classWeights = recipe.balanceClasses ? balancedClassWeights(data.labels, trainRows, k) : undefined;
  const rowWeights = Float32Array.from(data.labels, (label) => (classWeights ? classWeights[label] : 1));
  const validationPlain = validationRows.filter((i) => data.plain[i]);
  // Only the validation photos are ever one tensor: the backend's memory never holds the whole set.
  const x = validationPlain.length
    ? tf.tensor2d(
        storeRows(
          data.embeddings,
          validationPlain.map((r) => storeRow(data, r)),
        ),
        [validationPlain.length, EMBEDDING_SIZE],
      )
    : undefined;
  let best: FitResult | undefined;
  try {
    const rowsOfPhoto = groupRows(trainRows, data.photos);
    // Negative rows are numbered after the shop's: row n + i is negative row i.
    const negatives =
      data.negatives && recipe.negativeWeight > 0 && recipe.negativesPerEpoch > 0 ? data.negatives : undefined;
    const negativeRowsOfPhoto = negatives
      ? [...groupRows(Array.from(negatives.photos.keys()), negatives.photos).values()].map((rows) =>
          rows.map((r) => r + data.labels.length),
        )
      : [];
    for (let epoch = 1; epoch <= epochs; epoch++) {
      const epochRows = recipe.oneViewPerEpoch
        ? [...rowsOfPhoto.values()].map((rows) => rows[Math.floor(random() * rows.length)])
        : trainRows;
      const negativeRows = shuffled(negativeRowsOfPhoto, random)
        .slice(0, recipe.negativesPerEpoch)
        .map((rows) => rows[Math.floor(random() * rows.length)]);
      const order = shuffled([...epochRows, ...negativeRows], random);
      for (let start = 0; start < order.length; start += recipe.batchSize) {
        head.step(data, rowWeights, order.slice(start, start + recipe.batchSize), random);
      }
      onEpoch(epoch);
      if (validationPlain.length) {
        const evaluation = evaluate(tf, head, x!, data, validationPlain);
        // Ties go to the later epoch: more training at equal held-out accuracy generalises at least as well here.
        if (!best || evaluation.accuracy >= best.bestAccuracy || (!recipe.keepBestEpoch && epoch === epochs)) {
          best = {
            weights: head.weights(),
            bestEpoch: epoch,
            bestAccuracy: evaluation.accuracy,
            ...evaluation,
            epochsRun: epoch,
          };
        }
      }
    }
    best ??= {
      weights: head.weights(),
      bestEpoch: epochs,
      bestAccuracy: NaN,
      perClassAccuracy: Array(k).fill(null),
      confusion: [],
      epochsRun: epochs,
    };
    best.epochsRun = epochs;
    return best;
  } finally {
    x?.dispose();
    head.dispose();
  }
}

let headCounter = 0;

/**
 * Dense(hidden, relu) → Dense(classes, no bias) with hand-written gradients. Autodiff computes the big kernel
 * gradient as matMul(x, dy, transposeA), which the wasm backend runs ten times slower than an explicit transpose
 * followed by a plain matMul; doing it by hand keeps head training to a second or two.
 */
class TrainableHead {
  private readonly hiddenKernel: TF.Variable;
  private readonly hiddenBias: TF.Variable;
  private readonly outputKernel: TF.Variable;
  private readonly optimizer: Adam;

  constructor(
    private readonly tf: typeof TF,
    private readonly recipe: MlpRecipe,
    private readonly classCount: number,
  ) {
    const init = tf.initializers.varianceScaling({ seed: recipe.seed });
    const prefix = `head${++headCounter}`;
    this.hiddenKernel = tf.variable(init.apply([EMBEDDING_SIZE, recipe.hiddenUnits]), true, `${prefix}/hiddenKernel`);
    this.hiddenBias = tf.variable(tf.zeros([recipe.hiddenUnits]), true, `${prefix}/hiddenBias`);
    this.outputKernel = tf.variable(init.apply([recipe.hiddenUnits, classCount]), true, `${prefix}/outputKernel`);
    this.optimizer = new Adam(tf, recipe.learningRate, [this.hiddenKernel, this.hiddenBias, this.outputKernel]);
  }

  /**
   * One Adam step on the given rows: weighted softmax cross-entropy against the (smoothed) targets; a negative row
   * (numbered from data.labels.length on) has the uniform target. The batch is copied from plain arrays: the wasm
   * backend's gather is slower than building the small tensors directly.
   */
  step(data: TrainingSet, rowWeights: Float32Array, rows: number[], random: () => number): void {
    const tf = this.tf;
    const k = this.classCount;
    const rate = this.recipe.inputDropout;
    const smoothing = this.recipe.labelSmoothing;
    const n = data.labels.length;
    const inputs = new Float32Array(rows.length * EMBEDDING_SIZE);
    const targets = new Float32Array(rows.length * k).fill(smoothing / k);
    const weights = new Float32Array(rows.length);
    rows.forEach((row, i) => {
      if (row >= n) {
        const { bytes, scale } = data.negatives!;
        const from = (row - n) * EMBEDDING_SIZE;
        for (let j = 0; j < EMBEDDING_SIZE; j++) inputs[i * EMBEDDING_SIZE + j] = bytes[from + j] * scale;
        targets.fill(1 / k, i * k, (i + 1) * k);
        weights[i] = this.recipe.negativeWeight / rows.length;
        return;
      }
      inputs.set(embeddingRow(data, row), i * EMBEDDING_SIZE);
      targets[i * k + data.labels[row]] += 1 - smoothing;
      weights[i] = rowWeights[row] / rows.length;
    });
    if (rate > 0) for (let j = 0; j < inputs.length; j++) inputs[j] = random() >= rate ? inputs[j] / (1 - rate) : 0;
    tf.tidy(() => {
      const xb = tf.tensor2d(inputs, [rows.length, EMBEDDING_SIZE]);
      const preActivation = tf.matMul(xb, this.hiddenKernel).add(this.hiddenBias);
      const hidden = tf.relu(preActivation);
      const logits = tf.matMul(hidden, this.outputKernel);
      const tau = this.recipe.logitNormTemperature;
      let outputGradient: TF.Tensor2D;
      if (tau > 0) {
        // z' = u / τ with u = z / ‖z‖: dL/dz = (g − u·(u·g)) / (τ‖z‖), g = softmax(z') − target.
        const norm = tf.norm(logits, 'euclidean', 1, true).add(1e-7);
        const unit = logits.div(norm);
        const g = tf.softmax(unit.div(tau)).sub(tf.tensor2d(targets, [rows.length, k]));
        outputGradient = g
          .sub(unit.mul(tf.sum(unit.mul(g), 1, true)))
          .div(norm.mul(tau))
          .mul(tf.tensor2d(weights, [rows.length, 1]));
      } else {
        outputGradient = tf
          .softmax(logits)
          .sub(tf.tensor2d(targets, [rows.length, k]))
          .mul(tf.tensor2d(weights, [rows.length, 1]));
      }
      const hiddenGradient = tf.matMul(outputGradient, tf.transpose(this.outputKernel)).mul(tf.step(preActivation));
      this.optimizer.apply([
        tf.matMul(tf.transpose(xb), hiddenGradient),
        tf.sum(hiddenGradient, 0),
        tf.matMul(tf.transpose(hidden), outputGradient),
      ]);
    });
  }

  /** Logits (no dropout). */
  logits(x: TF.Tensor2D): TF.Tensor2D {
    const tf = this.tf;
    return tf.tidy(() => headForward(tf, x, this.hiddenKernel, this.hiddenBias, this.outputKernel));
  }

  weights(): HeadWeights {
    return {
      hiddenUnits: this.recipe.hiddenUnits,
      classCount: this.classCount,
      hiddenKernel: (this.hiddenKernel.dataSync() as Float32Array).slice(),
      hiddenBias: (this.hiddenBias.dataSync() as Float32Array).slice(),
      outputKernel: (this.outputKernel.dataSync() as Float32Array).slice(),
    };
  }

  dispose(): void {
    this.tf.dispose([this.hiddenKernel, this.hiddenBias, this.outputKernel]);
    this.optimizer.dispose();
  }
}

/**
 * Adam (Kingma & Ba, 2015), computed as TensorFlow.js's optimizer computes it (β1 = 0.9, β2 = 0.999, ε = 1e-7 added
 * to the bias-corrected √v), except that first moments too small for a normal float32 are set to zero now and then.
 * A weight whose gradient stays zero (a unit that never fires, a feature that is always zero) has its first moment
 * shrink by 0.9 a step, and some 800 steps on it is a subnormal number, which the CPU computes with about a hundred
 * times slower: tf.train.adam on the wasm backend went from 0.8 to 5.4 ms a step for a 1280 × 100 kernel, and the
 * steps of a head trained on every grocery photo from about 2.4 to 3.2–4.4 ms. A subnormal first moment moves its
 * weight by less than 1e-38 a step; native TensorFlow flushes subnormals to zero on the CPU anyway.
 */
export class Adam {
  private readonly first: TF.Variable[];
  private readonly second: TF.Variable[];
  private steps = 0;
  /** β^t, kept in float32 as TensorFlow.js keeps it, so that the updates are bit for bit tf.train.adam's. */
  private beta1Power = Math.fround(ADAM_BETA1);
  private beta2Power = Math.fround(ADAM_BETA2);

  constructor(
    private readonly tf: typeof TF,
    private readonly learningRate: number,
    private readonly parameters: TF.Variable[],
  ) {
    this.first = parameters.map((p) => tf.variable(tf.zerosLike(p), false));
    this.second = parameters.map((p) => tf.variable(tf.zerosLike(p), false));
  }

  /** One update of every parameter, `gradients[i]` for parameter i. */
  apply(gradients: TF.Tensor[]): void {
    const tf = this.tf;
    this.steps++;
    // A moment takes some 150 steps to fall from the smallest normal float32 to zero: flushing every 16th step keeps
    // nearly all of them out of that range, at a sixteenth of the flush's cost.
    const flush = this.steps % ADAM_FLUSH_EVERY === 0;
    tf.tidy(() => {
      const firstCorrection = Math.fround(1 - this.beta1Power);
      const secondCorrection = Math.fround(1 - this.beta2Power);
      this.parameters.forEach((value, i) => {
        const gradient = gradients[i];
        let first = this.first[i].mul(ADAM_BETA1).add(gradient.mul(1 - ADAM_BETA1));
        if (flush) first = tf.where(tf.abs(first).greaterEqual(FLOAT32_MIN_NORMAL), first, tf.zerosLike(first));
        const second = this.second[i].mul(ADAM_BETA2).add(tf.square(gradient).mul(1 - ADAM_BETA2));
        this.first[i].assign(first);
        this.second[i].assign(second);
        value.assign(
          first
            .div(firstCorrection)
            .div(second.div(secondCorrection).sqrt().add(ADAM_EPSILON))
            .mul(-this.learningRate)
            .add(value),
        );
      });
    });
    this.beta1Power = Math.fround(this.beta1Power * Math.fround(ADAM_BETA1));
    this.beta2Power = Math.fround(this.beta2Power * Math.fround(ADAM_BETA2));
  }

  dispose(): void {
    this.tf.dispose([...this.first, ...this.second]);
  }
}

const ADAM_BETA1 = 0.9;
const ADAM_BETA2 = 0.999;
const ADAM_EPSILON = 1e-7;
const ADAM_FLUSH_EVERY = 16;
/** The smallest normal float32. */
const FLOAT32_MIN_NORMAL = 2 ** -126;

/** Accuracy on `rows`, whose embeddings `x` holds in that order. */
function evaluate(tf: typeof TF, head: TrainableHead, x: TF.Tensor2D, data: TrainingSet, rows: number[]) {
  const predicted = tf.tidy(() => head.logits(x).argMax(1).dataSync());
  const k = data.classCount;
  const confusion = Array.from({ length: k }, () => new Array<number>(k).fill(0));
  rows.forEach((r, i) => confusion[data.labels[r]][predicted[i]]++);
  const correct = rows.filter((r, i) => data.labels[r] === predicted[i]).length;
  const perClassAccuracy = confusion.map((row, c) => {
    const total = row.reduce((a, b) => a + b, 0);
    return total ? row[c] / total : null;
  });
  return { accuracy: correct / rows.length, perClassAccuracy, confusion };
}

function balancedClassWeights(labels: Int32Array, rows: number[], classCount: number): number[] {
  const counts = new Array<number>(classCount).fill(0);
  for (const r of rows) counts[labels[r]]++;
  const present = counts.filter((c) => c > 0);
  const mean = present.reduce((a, b) => a + b, 0) / present.length;
  return counts.map((c) => (c ? mean / c : 0));
}

/**
 * Per class, the last ⌈fraction·photos⌉ photos (in a seeded shuffle) are held out, all their views with them;
 * a class keeps at least one photo for training.
 */
export function splitByPhoto(
  data: TrainingSet,
  fraction: number,
  seed: number,
): { train: number[]; validation: number[] } {
  if (fraction <= 0) return { train: Array.from(data.labels.keys()), validation: [] };
  const random = mulberry32(seed ^ 0x5eed);
  const photosByClass = new Map<number, number[]>();
  data.labels.forEach((label, row) => {
    const list = photosByClass.get(label) ?? [];
    if (!list.includes(data.photos[row])) list.push(data.photos[row]);
    photosByClass.set(label, list);
  });
  const heldOut = new Set<number>();
  for (const photos of photosByClass.values()) {
    const count = Math.min(Math.ceil(fraction * photos.length), photos.length - 1);
    for (const p of shuffled(photos, random).slice(0, count)) heldOut.add(p);
  }
  const train: number[] = [];
  const validation: number[] = [];
  data.photos.forEach((photo, row) => (heldOut.has(photo) ? validation : train).push(row));
  return { train, validation };
}
