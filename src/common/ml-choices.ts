/**
 * What the ML settings may name (TensorFlow backends, embedding engines) and the bundled base model: plain values
 * that the configuration validates against without loading the pipeline (src/training/ml), which uses them too.
 */
import { projectFile } from './project-files';

/** In `auto`'s order of preference. */
export const TF_BACKENDS = ['tensorflow', 'wasm', 'cpu'] as const;
export type TfBackendName = (typeof TF_BACKENDS)[number];
/** `auto` tries the native backend, then WebAssembly, then plain JavaScript. */
export type TfBackendChoice = TfBackendName | 'auto';

/** `auto` embeds with ONNX Runtime when it loads and the base model converts, else with TensorFlow.js. */
export const EMBEDDING_ENGINES = ['auto', 'onnx', 'tfjs'] as const;
export type EmbeddingEngineChoice = (typeof EMBEDDING_ENGINES)[number];

/**
 * The largest share of scans that may be stated to show things the shop does not sell (RECOGNITION_UNKNOWN_SHARE, a
 * job's unknownShare, --unknown-share); the migration's CHECK on training_job.unknown_share says the same.
 */
export const MAX_UNKNOWN_SHARE = 0.9;

/**
 * Teachable Machine's own base model (MobileNet V2, alpha 0.35, 224×224, ImageNet weights, no top), shipped with the
 * project (`src/training/base-model/`, with its licence and provenance): the default, so training needs no network.
 */
export const BUNDLED_BASE_MODEL = projectFile('src', 'training', 'base-model', 'model.json');
