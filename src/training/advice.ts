/**
 * Advice for the shop owner, worded for them: products the model confuses, products with too few photos, photos
 * that repeat another. Pure: computed from the cross-validation and the embeddings.
 */
import { dot, embeddingRow, unitVector, type TrainingSet } from './ml';
import type { Confusion } from './recognition';

/** Fewer usable photos than this and a product is hard to recognise (the 5–20 the README asks for). */
export const MIN_PHOTOS_PER_PRODUCT = 5;
/** Two photos of a product whose centre-view embeddings are this close (cosine) show the same thing. */
const NEAR_DUPLICATE_COSINE = 0.995;
const MAX_LOOK_ALIKES = 10;
const MAX_ADVICE = 50;

export interface ProductLabel {
  id: string;
  name: string;
}

export interface LookAlike {
  products: [string, string];
  names: [string, string];
  /** Held-out photos of one named as the other, both ways, in cross-validation. */
  confusions: number;
  advice: string;
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
      advice: `${labels[a].name} and ${labels[b].name} look alike: add photos that show the difference, or sell them by barcode`,
    }));
}

/** Products with few photos, and photos that repeat another photo of the same product. */
export function photoAdvice(data: TrainingSet, labels: ProductLabel[]): string[] {
  const plainRowsByClass = labels.map(() => [] as number[]);
  data.plain.forEach((plain, row) => plain && plainRowsByClass[data.labels[row]].push(row));
  const advice: string[] = [];
  plainRowsByClass.forEach((rows, c) => {
    const name = labels[c].name;
    if (rows.length < MIN_PHOTOS_PER_PRODUCT) {
      advice.push(
        `${name} has only ${rows.length} usable photo${rows.length === 1 ? '' : 's'}: add ${MIN_PHOTOS_PER_PRODUCT - rows.length} or more, from other angles and in the light at the till`,
      );
    }
    const repeats = nearDuplicates(data, rows);
    if (repeats > 0) {
      advice.push(
        `${name}: ${repeats} photo${repeats === 1 ? ' is a copy' : 's are copies'} (or near copies) of another of its photos and add${repeats === 1 ? 's' : ''} nothing: take photos from other angles instead`,
      );
    }
  });
  return advice.length <= MAX_ADVICE
    ? advice
    : [...advice.slice(0, MAX_ADVICE), `and ${advice.length - MAX_ADVICE} more pieces of advice like these`];
}

/** How many of the rows have an earlier row whose embedding is almost the same. */
function nearDuplicates(data: TrainingSet, rows: number[]): number {
  const unit = rows.map((row) => unitVector(embeddingRow(data, row)));
  return unit.filter((u, i) => unit.slice(0, i).some((earlier) => dot(u, earlier) >= NEAR_DUPLICATE_COSINE)).length;
}
