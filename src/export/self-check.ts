/**
 * The last check before a model is published: it must compute, from its own photos, the embeddings its head was fitted
 * to. Its figures (cross-validation, the gate and its estimates) were measured on those embeddings, so a cache entry or
 * an engine that gave other ones makes a model the figures do not describe. The outside probe's zero-filled cache made
 * such a model: logit scale 82 instead of 2.35, no scan estimated to be named, and wrong products named at a mean 0.965.
 */
import { FinalError, TrainerError } from '../common/errors';
import { maxAbsDifference } from '../training/ml';

/**
 * Largest difference allowed in an embedding value (they reach about 6). Measured between the embeddings the head was
 * fitted to (ONNX Runtime or tfjs) and the exported model's: up to 1.5e-5 on the test photos, 1.2e-5 on grocery photos
 * with the real base model; ONNX Runtime is held to 1e-4 of tfjs (ONNX_TOLERANCE). Swapped or zeroed ones: over 4.
 */
export const EMBEDDING_AGREEMENT_TOLERANCE = 1e-3;

export interface EmbeddingDisagreement {
  /** Index of the probe photo. */
  photo: number;
  difference: number;
}

/**
 * The probe photo whose fitted embedding is furthest from the one the model computes, when that is past the tolerance
 * (a value that is not a number always is); null when they agree. A photo the model could not read (null) is not
 * compared.
 */
export function embeddingDisagreement(
  fitted: Float32Array[],
  computed: (Float32Array | null)[],
): EmbeddingDisagreement | null {
  const rank = (difference: number) => (Number.isNaN(difference) ? Infinity : difference);
  let worst: EmbeddingDisagreement | null = null;
  fitted.forEach((embedding, photo) => {
    const own = computed[photo];
    if (!own) return;
    const difference = maxAbsDifference(embedding, own);
    if (!(difference <= EMBEDDING_AGREEMENT_TOLERANCE) && (!worst || rank(difference) > rank(worst.difference)))
      worst = { photo, difference };
  });
  return worst;
}

/**
 * The error that refuses the model. When some embeddings came from the cache (whose entries for the training's photos
 * the caller removes), another attempt can succeed; when none did, the engine itself disagrees and none can.
 */
export function selfCheckRefusal(
  disagreement: EmbeddingDisagreement,
  photoName: string,
  cache: { cachedViews: number; views: number },
): TrainerError {
  const problem =
    `the trained model does not compute the embeddings it was trained on: for photo ${photoName} they differ by up ` +
    `to ${disagreement.difference.toPrecision(3)} (allowed: ${EMBEDDING_AGREEMENT_TOLERANCE}), so its figures do not ` +
    `describe it, and it was not published`;
  if (!cache.cachedViews)
    return new FinalError(
      `${problem}; none of them came from the embedding cache: the embedding engine disagrees with TensorFlow.js ` +
        `(set EMBEDDING_ENGINE=tfjs, or clear MODEL_CACHE_DIR/onnx)`,
    );
  return new TrainerError(
    `${problem}; ${cache.cachedViews} of its ${cache.views} embeddings came from the embedding cache, whose entries ` +
      `for this training's photos were removed: another attempt embeds them anew`,
  );
}
