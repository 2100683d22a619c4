/**
 * The Teachable Machine export format: model.json (topology + one weights manifest group), one weights.bin shard
 * and metadata.json. Pure functions: no TensorFlow, no file system.
 */

export const MODEL_FILE = 'model.json';
export const WEIGHTS_FILE = 'weights.bin';
export const METADATA_FILE = 'metadata.json';
export const MODEL_FILES = [MODEL_FILE, WEIGHTS_FILE, METADATA_FILE] as const;

/** Version of `@teachablemachine/image` whose loader these files are tested against. */
export const TM_PACKAGE_VERSION = '0.8.5';
/** Teachable Machine web app version whose image-project exports these files reproduce. */
export const TM_VERSION = '2.4.16';

export interface WeightSpec {
  name: string;
  shape: number[];
  dtype: string;
}

/** What tfjs hands to a save handler (tf.io.ModelArtifacts), reduced to what the format needs. */
export interface SavedModel {
  modelTopology: unknown;
  weightSpecs: WeightSpec[];
  weightData: ArrayBuffer;
  format?: string;
  generatedBy?: string;
  convertedBy?: string | null;
}

export function modelJsonFor(saved: SavedModel): string {
  return JSON.stringify({
    modelTopology: saved.modelTopology,
    format: saved.format ?? 'layers-model',
    generatedBy: saved.generatedBy,
    convertedBy: saved.convertedBy ?? null,
    weightsManifest: [{ paths: [WEIGHTS_FILE], weights: saved.weightSpecs }],
  });
}

export interface StageSeconds {
  [stage: string]: number;
}

export interface ModelMetrics {
  /**
   * Accuracy on a held-out share of each label's photos, of a head trained the same way on the other photos (the
   * exported head trains on all of them); null when no label had a photo to spare.
   */
  validationAccuracy: number | null;
  validationImages: number;
  /** label → accuracy on its held-out photos (null when it had none). */
  perClassAccuracy: Record<string, number | null>;
  /** confusionMatrix[i][j]: held-out photos of labels[i] predicted as labels[j]. */
  confusionMatrix: number[][];
  epochsRun: number;
  secondsPerStage: StageSeconds;
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
  baseModel: { url: string; sha256: string };
  recipe: Record<string, unknown>;
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
    imageSize: 224,
    trainingId: input.trainingId,
    trainedAt: input.trainedAt.toISOString(),
    productCount: input.labels.length,
    imageCount: input.imageCount,
    labelNames: input.labelNames,
    preprocessing: {
      exifOrientation: true,
      resize: 'scale the short side to 224 (cover)',
      crop: 'centre 224x224',
      colourSpace: 'sRGB, 3 channels; fully transparent pixels black',
      normalization: 'x / 127 - 1',
      inputRange: [-1, 1],
    },
    metrics: input.metrics,
    baseModel: input.baseModel,
    recipe: input.recipe,
  };
}
