/**
 * Teachable Machine's own head recipe (an MLP: Dense(100, relu) → softmax, Adam, 50 epochs), reproduced for the
 * benchmarks' side-by-side figures only: no model the service exports is trained with it. It lives here, not beside
 * the benchmarks, because they train it in the worker threads as they train the linear head (head.ts dispatches
 * between the two).
 */
import type * as TF from '@tensorflow/tfjs';
import { EMBEDDING_SIZE } from '../../config/model-shape';
import { headForward, type HeadWeights } from './dense-head';
import { embeddingRow, mulberry32, shuffled, storeRow, storeRows, type TrainingSet } from './training-set';

/** How the MLP head is trained. */
export interface MlpRecipe {
  kind: 'mlp';
  /** Units of the hidden Dense(relu) layer; Teachable Machine uses 100. */
  hiddenUnits: number;
  epochs: number;
  batchSize: number;
  learningRate: number;
  /** Per-class share of photos held out of training (all their views) and scored after the last epoch; 0 holds none. */
  validationFraction: number;
  seed: number;
}

export const TEACHABLE_MACHINE_RECIPE: MlpRecipe = {
  kind: 'mlp',
  hiddenUnits: 100,
  epochs: 50,
  batchSize: 16,
  learningRate: 0.001,
  validationFraction: 0.15,
  seed: 42,
};

export interface MlpTrainingReport {
  weights: HeadWeights;
  /** Accuracy on the held-out photos after the last epoch (null when nothing was held out). */
  validationAccuracy: number | null;
  /** Per class: accuracy on its held-out photos, null for a class with none. */
  perClassAccuracy: (number | null)[];
  /** confusion[true][predicted] counts over the held-out photos. */
  confusion: number[][];
  validationPhotos: number;
  epochsRun: number;
}

export type EpochListener = (epoch: number, totalEpochs: number) => void;

/**
 * Trains the MLP head on embeddings: every epoch shows every training row (each view of each photo) once, in a seeded
 * order. Pure apart from TensorFlow: no I/O.
 */
export async function trainMlpHead(
  tf: typeof TF,
  data: TrainingSet,
  recipe: MlpRecipe,
  onEpoch?: EpochListener,
): Promise<MlpTrainingReport> {
  const { train, validation } = splitByPhoto(data, recipe.validationFraction, recipe.seed);
  const random = mulberry32(recipe.seed);
  const head = new TrainableHead(tf, recipe, data.classCount);
  try {
    for (let epoch = 1; epoch <= recipe.epochs; epoch++) {
      const order = shuffled(train, random);
      for (let start = 0; start < order.length; start += recipe.batchSize) {
        head.step(data, order.slice(start, start + recipe.batchSize));
      }
      onEpoch?.(epoch, recipe.epochs);
    }
    // Only a photo's plain view is scored (TrainingSet.plain).
    const validationPlain = validation.filter((r) => data.plain[r]);
    const evaluation = validationPlain.length ? evaluate(tf, head, data, validationPlain) : undefined;
    return {
      weights: head.weights(),
      validationAccuracy: evaluation?.accuracy ?? null,
      perClassAccuracy: evaluation?.perClassAccuracy ?? Array<null>(data.classCount).fill(null),
      confusion: evaluation?.confusion ?? [],
      validationPhotos: validationPlain.length,
      epochsRun: recipe.epochs,
    };
  } finally {
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
    // tidy frees each initial value once its variable holds a copy (it never frees variables).
    this.hiddenKernel = tf.tidy(() =>
      tf.variable(init.apply([EMBEDDING_SIZE, recipe.hiddenUnits]), true, `${prefix}/hiddenKernel`),
    );
    this.hiddenBias = tf.tidy(() => tf.variable(tf.zeros([recipe.hiddenUnits]), true, `${prefix}/hiddenBias`));
    this.outputKernel = tf.tidy(() =>
      tf.variable(init.apply([recipe.hiddenUnits, classCount]), true, `${prefix}/outputKernel`),
    );
    this.optimizer = new Adam(tf, recipe.learningRate, [this.hiddenKernel, this.hiddenBias, this.outputKernel]);
  }

  /**
   * One Adam step on the given rows: mean softmax cross-entropy against one-hot targets. The batch is copied from
   * plain arrays: the wasm backend's gather is slower than building the small tensors directly.
   */
  step(data: TrainingSet, rows: number[]): void {
    const tf = this.tf;
    const k = this.classCount;
    const inputs = new Float32Array(rows.length * EMBEDDING_SIZE);
    const targets = new Float32Array(rows.length * k);
    rows.forEach((row, i) => {
      inputs.set(embeddingRow(data, row), i * EMBEDDING_SIZE);
      targets[i * k + data.labels[row]] = 1;
    });
    tf.tidy(() => {
      const xb = tf.tensor2d(inputs, [rows.length, EMBEDDING_SIZE]);
      const preActivation = tf.matMul(xb, this.hiddenKernel).add(this.hiddenBias);
      const hidden = tf.relu(preActivation);
      const logits = tf.matMul(hidden, this.outputKernel);
      const outputGradient = tf
        .softmax(logits)
        .sub(tf.tensor2d(targets, [rows.length, k]))
        .mul(1 / rows.length);
      const hiddenGradient = tf.matMul(outputGradient, tf.transpose(this.outputKernel)).mul(tf.step(preActivation));
      this.optimizer.apply([
        tf.matMul(tf.transpose(xb), hiddenGradient),
        tf.sum(hiddenGradient, 0),
        tf.matMul(tf.transpose(hidden), outputGradient),
      ]);
    });
  }

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
    this.first = parameters.map((p) => tf.tidy(() => tf.variable(tf.zerosLike(p), false)));
    this.second = parameters.map((p) => tf.tidy(() => tf.variable(tf.zerosLike(p), false)));
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

/** Accuracy on the held-out `rows`: only they are ever one tensor, so the backend never holds the whole set. */
function evaluate(tf: typeof TF, head: TrainableHead, data: TrainingSet, rows: number[]) {
  const predicted = tf.tidy(() => {
    const x = tf.tensor2d(
      storeRows(
        data.embeddings,
        rows.map((r) => storeRow(data, r)),
      ),
      [rows.length, EMBEDDING_SIZE],
    );
    return head.logits(x).argMax(1).dataSync();
  });
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
