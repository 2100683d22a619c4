/**
 * What the ML settings may name (input ranges, TensorFlow backends, embedding engines) and the default base model: plain values
 * that the configuration validates against without loading the pipeline (src/training/ml), which uses them too.
 */

/**
 * What the exported model takes as input: `tm` is Teachable Machine's x / 127 − 1 (what @teachablemachine/image
 * feeds); `unit` is x / 255 in [0, 1], rescaled by a layer inside the model (what the shop's web app feeds).
 */
export const INPUT_RANGES = ['tm', 'unit'] as const;
export type InputRange = (typeof INPUT_RANGES)[number];

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
 * Teachable Machine's base model (MobileNet V2, alpha 0.35, 224×224, ImageNet weights, no top) where its library
 * loads it from: the default BASE_MODEL_URL, downloaded at first use and cached; its weights' sha256 (the shards
 * concatenated, as base-model.ts hashes them) is checked on download and on every use of the cached copy.
 */
export const TEACHABLE_MACHINE_BASE_MODEL = {
  url: 'https://storage.googleapis.com/teachable-machine-models/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_224_no_top/model.json',
  sha256: 'e159deb3afa15bc63a53edb3eb31d0d6de1a25f0d8d72d9b8372b5088a902a8a',
  /** For messages: what it is, since a hash alone says nothing to a reader. */
  name: "Teachable Machine's MobileNet V2 0.35",
} as const;

/** The sha256 the weights at `source` must have, when the project knows it (only Teachable Machine's URL). */
export function knownBaseModelSha256(source: string): string | undefined {
  return source === TEACHABLE_MACHINE_BASE_MODEL.url ? TEACHABLE_MACHINE_BASE_MODEL.sha256 : undefined;
}

/**
 * Where the negative bank's photos come from by default (GROCERY_DATASET_URL): the Grocery Store Dataset's `dataset/`
 * folder in its public repository (Klasson, Zhang, Kjellström, WACV 2019; MIT licence). The bank's definition names
 * photos by their path inside that folder.
 */
export const GROCERY_DATASET_URL =
  'https://raw.githubusercontent.com/marcusklasson/GroceryStoreDataset/master/dataset/';
