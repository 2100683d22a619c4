/** The rows a head trains on: the shop's embeddings (a shared store), their labels and photos, and the negatives. */
import { EMBEDDING_SIZE } from '../../config/model-shape';

export interface TrainingSet {
  /**
   * 1280-float embeddings, row-major: row r of the set is row `rows[r]` here, or row r when `rows` is absent. Sets
   * may share one store (the cross-validation folds share the shop's), and a store in shared memory
   * (sharedFloat32Array) reaches a worker thread without a copy. Read a row with embeddingRow.
   */
  embeddings: Float32Array;
  rows?: Int32Array;
  /** Class index of each row. */
  labels: Int32Array;
  /** Photo each row was cut from: augmented views of one photo stay on the same side of the validation split. */
  photos: Int32Array;
  /** Rows that are the photo's plain (centre) view: the only rows used to measure accuracy. */
  plain: Uint8Array;
  classCount: number;
  /** Embeddings of things that are not the shop's, for outlier exposure (see LinearHeadRecipe.negativeWeight). */
  negatives?: NegativeSet;
}

/** The row of the embedding store that holds the set's row `row`. */
export function storeRow(data: TrainingSet, row: number): number {
  return data.rows ? data.rows[row] : row;
}

/** The embedding of the set's row `row` (a view into the store, not a copy). */
export function embeddingRow(data: TrainingSet, row: number): Float32Array {
  return storedEmbedding(data.embeddings, storeRow(data, row));
}

/** Row `at` of an embedding store (a view, not a copy). */
export function storedEmbedding(embeddings: Float32Array, at: number): Float32Array {
  return embeddings.subarray(at * EMBEDDING_SIZE, (at + 1) * EMBEDDING_SIZE);
}

/** Rows of negative embeddings; `photos[row]` groups the views of one negative photo. */
export interface NegativeSet {
  /** m × 1280 values, row-major, a byte each: the value is byte × scale (a quarter of the memory of floats). */
  bytes: Uint8Array;
  scale: number;
  photos: Int32Array;
}

/** Rows of an embedding store, copied one after the other. */
export function storeRows(embeddings: Float32Array, rows: ArrayLike<number>): Float32Array {
  const out = new Float32Array(rows.length * EMBEDDING_SIZE);
  for (let i = 0; i < rows.length; i++) out.set(storedEmbedding(embeddings, rows[i]), i * EMBEDDING_SIZE);
  return out;
}

export function shuffled<T>(items: readonly T[], random: () => number): T[] {
  const out = items.slice();
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

/** Small seeded PRNG: the same photos and seed give the same model. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
