/**
 * The ML pipeline's public face: what the rest of the service uses of `training/ml`. Only this folder touches
 * TensorFlow.js and ONNX Runtime (eslint.config.mjs enforces it); everything here is plain data and functions, or
 * the worker pool that runs TensorFlow in its threads.
 */
export {
  BaseModelError,
  EMBEDDING_LAYER,
  resolveBaseModel,
  type BaseModelFiles,
  type DownloadProgress,
} from './base-model';
export { fuseLayersModel } from './fused-graph';
export {
  acceptScale,
  chooseGateScale,
  CLIENT_THRESHOLD,
  type GateChoice,
  type GateOptions,
  type KnownScan,
} from './gate';
export { headLogits, type HeadWeights } from './dense-head';
export { type HeadRecipe, type HeadTrainingReport, type TrainHead } from './head';
export { linearStart, startForClasses, type LinearHeadRecipe, type LinearWeights } from './linear-head';
export {
  embeddingRow,
  mulberry32,
  shuffled,
  storedEmbedding,
  storeRow,
  type NegativeSet,
  type TrainingSet,
} from './training-set';
export { readModelArtifacts } from './model-files';
export { onnxModelOf } from './onnx-model';
export { loadOnnxRuntime } from './onnx-runtime';
export { MlWorkerPool } from './ml-worker-pool';
export { argMax, dot, maxAbsDifference, sharedFloat32Array, sharedUint8Array, unitVector } from './vectors';
