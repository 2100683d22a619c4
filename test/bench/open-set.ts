/**
 * What the open-set benchmarks share (`gate-bench.ts`, `scans-bench.ts`): grocery photos with their embeddings, a
 * shop's training set, scans scored by a head, accepts counted at a gate, the negative bank, and the tables.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { EMBEDDING_SIZE } from '../../src/config/model-shape';
import type { View } from '../../src/dataset/preprocess';
import { headLogits, type HeadWeights } from '../../src/training/ml/dense-head';
import { acceptScale } from '../../src/training/ml/gate';
import type { TrainingSet } from '../../src/training/ml/training-set';
import { argMax } from '../../src/training/ml/vectors';
import { loadBankDefinition, negativeBankOf, type NegativeBank } from '../../src/training/negative-bank/negative-bank';
import { sha256Hex } from '../../src/training/recipe';
import { GROCERY, REAL_BASE_MODEL_JSON, type GroceryPhoto } from '../support/shared';
import { embedGroceryPhotos } from './grocery-embeddings';

export interface Photo extends GroceryPhoto {
  sha: string;
  views: Map<View, Float32Array>;
}

/** One shop's scans as a model saw them: each scan's acceptScale and whether its top product is right. */
export interface Scored {
  known: { scale: number; correct: boolean }[];
  unknown: number[];
}

export async function withEmbeddings(
  photos: GroceryPhoto[],
  views: View[],
  log: (l: string) => void,
): Promise<Photo[]> {
  const embeddings = await embedGroceryPhotos(REAL_BASE_MODEL_JSON, photos, views, log);
  return Promise.all(
    photos.map(async (p, i) => ({
      ...p,
      sha: sha256Hex(new Uint8Array(await fs.readFile(p.file))),
      views: new Map(views.map((v, j) => [v, embeddings[i][j]])),
    })),
  );
}

export function shopSet(enrol: Photo[], shop: number[], viewsOf: (sha: string) => View[]): TrainingSet {
  const rows = enrol.flatMap((p, i) =>
    viewsOf(p.sha).map((v, j) => ({ e: p.views.get(v)!, label: shop.indexOf(p.classId), photo: i, plain: j === 0 })),
  );
  const embeddings = new Float32Array(rows.length * EMBEDDING_SIZE);
  rows.forEach((r, i) => embeddings.set(r.e, i * EMBEDDING_SIZE));
  return {
    embeddings,
    labels: Int32Array.from(rows, (r) => r.label),
    photos: Int32Array.from(rows, (r) => r.photo),
    plain: Uint8Array.from(rows, (r) => (r.plain ? 1 : 0)),
    classCount: shop.length,
  };
}

export function scoreScans(
  weights: HeadWeights,
  known: { e: Float32Array; label: number }[],
  unknown: Float32Array[],
): Scored {
  return {
    known: known.map((s) => {
      const logits = headLogits(weights, s.e);
      return { scale: acceptScale(logits), correct: argMax(logits) === s.label };
    }),
    unknown: unknown.map((e) => acceptScale(headLogits(weights, e))),
  };
}

export function top1Of(scored: Scored): number {
  return scored.known.filter((s) => s.correct).length / scored.known.length;
}

/** Right accepts (share of the shop's scans) and wrong accepts (share of all scans) at a scale. */
export function acceptsAt(scored: Scored, scale: number, share: number): { right: number; wrong: number } {
  let right = 0;
  let wrongKnown = 0;
  for (const s of scored.known) {
    if (s.scale > scale) continue;
    if (s.correct) right++;
    else wrongKnown++;
  }
  const wrongUnknown = scored.unknown.filter((s) => s <= scale).length;
  return {
    right: right / scored.known.length,
    wrong: (1 - share) * (wrongKnown / scored.known.length) + share * (wrongUnknown / scored.unknown.length),
  };
}

/**
 * The oracle: the best mean right-accept rate over shops of one scale chosen afterwards, on these very scans, whose
 * mean wrong accepts are at most `maxWrong` (no shop can have it: it shows what the head allows).
 */
export function oracleRight(shops: { scored: Scored; share: number }[], maxWrong: number): number {
  const candidates = [
    ...new Set(shops.flatMap((s) => [...s.scored.known.map((k) => k.scale), ...s.scored.unknown])),
  ].filter(Number.isFinite);
  candidates.sort((a, b) => a - b);
  let best = 0;
  // Bisection would do; the candidates are few thousand, so a sweep with an early stop is simple enough.
  for (const scale of candidates) {
    const at = shops.map((s) => acceptsAt(s.scored, scale, s.share));
    if (mean(at.map((a) => a.wrong)) > maxWrong) break;
    best = Math.max(best, mean(at.map((a) => a.right)));
  }
  return best;
}

export const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;
export const median = (values: number[]) => {
  const sorted = values.slice().sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};
export const pct = (value: number) => `${(100 * value).toFixed(1)}%`;

export function table(rows: string[][]): string {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  return rows
    .map((r) => r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  '))
    .join('\n');
}

/** The negative bank as the service builds it (its photos' centre views), from the train photos' embeddings. */
export async function bankOf(train: Photo[]): Promise<{ bank: NegativeBank; bankClasses: Set<number> }> {
  const bankPaths = new Set((await loadBankDefinition()).photos);
  const bankPhotos = train.filter((p) => bankPaths.has(path.relative(GROCERY.root, p.file)));
  const centre = new Float32Array(bankPhotos.length * EMBEDDING_SIZE);
  bankPhotos.forEach((p, i) => centre.set(p.views.get('centre')!, i * EMBEDDING_SIZE));
  const bank = negativeBankOf(
    bankPhotos.map((p) => path.relative(GROCERY.root, p.file)),
    centre,
  );
  const bankClasses = new Set(bankPhotos.map((p) => p.classId));
  return { bank, bankClasses };
}
