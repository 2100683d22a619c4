/**
 * The last check before a model is published: it must compute, from its own photos, the embeddings its head was fitted
 * to. Its figures (cross-validation, the gate and its estimates) were measured on those embeddings, so a cache entry or
 * an engine that gave other ones makes a model the figures do not describe. The outside probe's zero-filled cache made
 * such a model: logit scale 82 instead of 2.35, no scan estimated to be named, and wrong products named at a mean 0.965.
 */
import { maxAbsDifference } from './ml';

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
