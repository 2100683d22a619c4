/**
 * The Teachable Machine export format: model.json (a TensorFlow.js layers model with one weights manifest group,
 * written by training/ml/model-files.ts), one weights.bin shard and metadata.json. Pure: no TensorFlow, no file system.
 */
import type { InputRange } from '../config/ml-choices';
import { IMAGE_SIZE } from '../config/model-shape';
import type { ModelQuality, TillScanFigures } from './model-quality';

export const MODEL_FILE = 'model.json';
export const WEIGHTS_FILE = 'weights.bin';
export const METADATA_FILE = 'metadata.json';
export const MODEL_FILES = [MODEL_FILE, WEIGHTS_FILE, METADATA_FILE] as const;

/** Version of `@teachablemachine/image` whose loader these files are tested against. */
export const TM_PACKAGE_VERSION = '0.8.5';
/** Teachable Machine web app version whose image-project exports these files reproduce. */
export const TM_VERSION = '2.4.16';

export interface StageSeconds {
  [stage: string]: number;
}

export interface ModelMetrics {
  /**
   * Share of the cross-validation's held-out photos (one per product and fold) named right among the products their
   * fold knew (the exported head trains on all photos); null when no product had three photos.
   */
  validationAccuracy: number | null;
  validationImages: number;
  /** label → accuracy on its held-out photos (null when it had none). */
  perClassAccuracy: Record<string, number | null>;
  /**
   * confusionMatrix[i][j]: held-out photos of labels[i] predicted as labels[j]; null past
   * DENSE_CONFUSION_MAX_PRODUCTS products, where confusionPairs holds its non-zero cells off the diagonal instead.
   */
  confusionMatrix: number[][] | null;
  confusionPairs?: { actual: string; predicted: string; count: number }[];
  /** L-BFGS iterations of the exported head's fit. */
  headIterations: number;
  secondsPerStage: StageSeconds;
}

/**
 * When the model names a product, and how sure that is (docs/accuracy.md, "How sure is the model?"). The gate is baked into
 * the model: its logits are multiplied by `logitScale`, so a client that accepts the top product at probability
 * `threshold` applies it.
 */
export interface RecognitionMetadata {
  threshold: number;
  logitScale: number;
  /** The largest share of all scans that may be named as a wrong product, which the gate was chosen for… */
  targetFalseAccept: number;
  /** …when this share of scans shows things the shop does not sell. */
  unknownShare: number;
  /** Expected share of scans of the shop's products named right (null: too few photos to cross-validate). */
  estimatedCorrectAccept: number | null;
  /** Expected share of all scans named as a wrong product (null: too few photos to cross-validate). */
  estimatedFalseAccept: number | null;
  method: string;
  crossValidation: {
    folds: number;
    knownScans: number;
    unknownScans: number;
    correctAccept: number | null;
    falseAccept: number | null;
  };
  /**
   * Photos of things that are not the shop's that the head learnt to be unsure of (null: the bank could not be had), and
   * the bank's classes left out because the shop sells them.
   */
  negativeBank: { photos: number; classesLeftOut: string[] } | null;
  lookAlikes: { products: [string, string]; names: [string, string]; confusions: number; advice: string }[];
  advice: string[];
  /**
   * The till's confirmed scans the model learnt from, and what they measured at its gate, each judged by a head that
   * did not train on it (null: no scans were sent, and the estimates above come from cross-validation).
   */
  tillScans: TillScanFigures | null;
}

export interface MetadataInput {
  trainingId: string;
  trainedAt: Date;
  modelName: string;
  labels: string[];
  labelNames: string[];
  imageCount: number;
  tfjsVersion: string;
  metrics: ModelMetrics;
  recognition: RecognitionMetadata;
  /** What the model will do, in words (model-quality.ts): the one text every output shows. */
  quality: ModelQuality;
  /** `url` is null for a base model read from a local path. */
  baseModel: { url: string | null; sha256: string };
  recipe: Record<string, unknown>;
  inputRange: InputRange;
  userMetadata?: Record<string, unknown>;
}

/** metadata.json: Teachable Machine's fields first, then ours. */
export function metadataFor(input: MetadataInput): Record<string, unknown> {
  return {
    tfjsVersion: input.tfjsVersion,
    tmVersion: TM_VERSION,
    packageVersion: TM_PACKAGE_VERSION,
    packageName: '@teachablemachine/image',
    timeStamp: input.trainedAt.toISOString(),
    userMetadata: input.userMetadata ?? {},
    modelName: input.modelName,
    labels: input.labels,
    imageSize: IMAGE_SIZE,
    trainingId: input.trainingId,
    trainedAt: input.trainedAt.toISOString(),
    productCount: input.labels.length,
    imageCount: input.imageCount,
    labelNames: input.labelNames,
    preprocessing: preprocessingFor(input.inputRange),
    metrics: input.metrics,
    recognition: input.recognition,
    quality: input.quality,
    baseModel: input.baseModel,
    recipe: input.recipe,
  };
}

/** How pixels must be prepared for the model, written into metadata.json. */
export function preprocessingFor(inputRange: InputRange): Record<string, unknown> {
  const shared = { exifOrientation: true, colourSpace: 'sRGB, 3 channels; fully transparent pixels black' };
  if (inputRange === 'unit') {
    return {
      ...shared,
      resize:
        'whole frame, bilinear, to 224x224 (the model was trained on centre crops: squashing works, cropping too)',
      normalization: 'x / 255; the model rescales to x * 255/127 - 1 in its first layer',
      inputRange: [0, 1],
    };
  }
  return {
    ...shared,
    resize: `scale the short side to ${IMAGE_SIZE} (cover)`,
    crop: 'centre 224x224',
    normalization: 'x / 127 - 1',
    inputRange: [-1, 1],
  };
}

/** Past this many products the confusion is kept sparse: a dense matrix grows with the square of the count. */
export const DENSE_CONFUSION_MAX_PRODUCTS = 100;

/**
 * The cross-validation's confusion for metadata.json: dense up to DENSE_CONFUSION_MAX_PRODUCTS products (right
 * counts on the diagonal), else only the pairs that were confused, most confused first.
 */
export function confusionOf(
  labels: string[],
  correct: number[],
  confusions: { actual: number; predicted: number }[],
): Pick<ModelMetrics, 'confusionMatrix' | 'confusionPairs'> {
  if (labels.length <= DENSE_CONFUSION_MAX_PRODUCTS) {
    const matrix = labels.map((_, i) => labels.map((__, j) => (i === j ? correct[i] : 0)));
    for (const { actual, predicted } of confusions) matrix[actual][predicted]++;
    return { confusionMatrix: matrix };
  }
  const counts = new Map<string, { actual: string; predicted: string; count: number }>();
  for (const { actual, predicted } of confusions) {
    const key = `${actual} ${predicted}`;
    const pair = counts.get(key) ?? { actual: labels[actual], predicted: labels[predicted], count: 0 };
    pair.count++;
    counts.set(key, pair);
  }
  return { confusionMatrix: null, confusionPairs: [...counts.values()].sort((a, b) => b.count - a.count) };
}
