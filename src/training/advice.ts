/**
 * What the shop owner should be told about the photos: products the model confuses, products with too few photos,
 * photos that repeat another. Pure: found in the cross-validation and the embeddings; export/model-quality.ts words it.
 */
import { dot, embeddingRow, unitVector, type TrainingSet } from './ml';
import type { Confusion } from './recognition';

/** Fewer usable photos than this and a product is hard to recognise (the 5–20 the README asks for). */
export const MIN_PHOTOS_PER_PRODUCT = 5;
/** Two photos of a product whose centre-view embeddings are this close (cosine) show the same thing. */
const NEAR_DUPLICATE_COSINE = 0.995;
const MAX_LOOK_ALIKES = 10;

export interface ProductLabel {
  id: string;
  name: string;
}

export interface LookAlike {
  products: [string, string];
  names: [string, string];
  /** Held-out photos of one named as the other, both ways, in cross-validation. */
  confusions: number;
}

/** A product whose photos need attention: fewer usable than MIN_PHOTOS_PER_PRODUCT, or some that copy another. */
export interface PhotoFinding {
  name: string;
  usable: number;
  copies: number;
}

/** Pairs of products that cross-validation confused, most confused first. */
export function lookAlikes(confusions: Confusion[], labels: ProductLabel[]): LookAlike[] {
  const pairs = new Map<string, { a: number; b: number; count: number }>();
  for (const { actual, predicted } of confusions) {
    const [a, b] = actual < predicted ? [actual, predicted] : [predicted, actual];
    const key = `${a}/${b}`;
    const pair = pairs.get(key) ?? { a, b, count: 0 };
    pair.count++;
    pairs.set(key, pair);
  }
  return [...pairs.values()]
    .sort((x, y) => y.count - x.count || x.a - y.a || x.b - y.b)
    .slice(0, MAX_LOOK_ALIKES)
    .map(({ a, b, count }) => ({
      products: [labels[a].id, labels[b].id],
      names: [labels[a].name, labels[b].name],
      confusions: count,
    }));
}

/** Products with few photos, or with photos that repeat another photo of the same product. */
export function photoFindings(data: TrainingSet, labels: ProductLabel[]): PhotoFinding[] {
  const plainRowsByClass = labels.map(() => [] as number[]);
  data.plain.forEach((plain, row) => plain && plainRowsByClass[data.labels[row]].push(row));
  return plainRowsByClass
    .map((rows, c) => ({ name: labels[c].name, usable: rows.length, copies: nearDuplicates(data, rows) }))
    .filter((f) => f.usable < MIN_PHOTOS_PER_PRODUCT || f.copies > 0);
}

/** How many of the rows have an earlier row whose embedding is almost the same. */
function nearDuplicates(data: TrainingSet, rows: number[]): number {
  const unit = rows.map((row) => unitVector(embeddingRow(data, row)));
  return unit.filter((u, i) => unit.slice(0, i).some((earlier) => dot(u, earlier) >= NEAR_DUPLICATE_COSINE)).length;
}
