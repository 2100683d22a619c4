/**
 * `npm run bench:scans`: what the till's confirmed scans are worth (issue 31). Shops as in gate-bench.ts: 20 grocery
 * products enrolling their first k train photos and 20 products they do not sell, drawn from the classes outside the
 * negative bank that have val and dev photos. The till's confirmed scans of a product are its val photos, then its
 * first 5 dev photos (5–10 a product), confirmed as that product for the shop's and as none of them for the others;
 * the scans still to come are the rest of its dev photos. A share s of the till's scans shows unknown products, in
 * the confirmed scans as in those to come (s = 0: no scan was confirmed as none).
 *
 * Per s and number n of confirmed scans per product (SCANS_N: 0, 2, 5, all), three ways to use them, each measured on
 * the scans still to come at its own gate (named right: of the shop's scans; named wrong: of all scans, mean and worst
 * shop; and the oracle, the best single scale chosen afterwards on these scans for all shops at once):
 * - `no scans`: the service's recipe, its gate from cross-validation on the enrolment photos, for the stated s;
 * - `gate from scans`: the same head; its scale chosen on the confirmed scans, which it did not train on, for the
 *   share of them confirmed as none (without any, cross-validation's impostors stand for the unknown scans);
 * - `scans in training`: the confirmed scans train the head beside the photos (as rows of their product; those
 *   confirmed as none beside the negative bank), and the scale is chosen on the scans by cross-fitting: two heads,
 *   each trained on half the scans, score the other half;
 * - `scans in training, cv gate`: that head at the scale cross-validation chose without scans (`no scans`' gate);
 * - `scans in training, pooled gate`: that head, its scale chosen on the held-out scans and cross-validation's scans
 *   together (the scans update cross-validation's prior), for the share confirmed as none.
 * The scale is chosen from the scans as they are (no shift, no correction: they are the till's own), for mean wrong
 * accepts of SCANS_TARGET (0.015) of all scans.
 *
 * SCANS_SEEDS (20), SCANS_FIRST_SEED (1), SCANS_K (10), SCANS_N (0,2,5,all), SCANS_SHARES (0,0.25,0.5), SCANS_TARGET.
 */
import * as os from 'node:os';
import { EMBEDDING_SIZE } from '../../src/config/model-shape';
import type { View } from '../../src/dataset/preprocess';
import { chooseGateScale, type GateOptions, type KnownScan } from '../../src/training/ml/gate';
import type { HeadRecipe, HeadTrainingReport } from '../../src/training/ml/head';
import { MlWorkerPool } from '../../src/training/ml/ml-worker-pool';
import { mulberry32, shuffled, type NegativeSet, type TrainingSet } from '../../src/training/ml/training-set';
import { bankWithoutShopProducts, quantizeBank } from '../../src/training/negative-bank/negative-bank';
import { crossValidate, medianPhotosPerProduct } from '../../src/training/recognition';
import { AUGMENTATION_VIEWS, DEFAULT_RECIPE, GATE_FOLDS, gateOptions, viewsForPhoto } from '../../src/training/recipe';
import { GROCERY } from '../support/shared';
import {
  acceptsAt,
  bankOf,
  mean,
  oracleRight,
  pct,
  scoreScans,
  shopSet,
  table,
  withEmbeddings,
  type Photo,
  type Scored,
} from './open-set';

const SEEDS = Number(process.env.SCANS_SEEDS ?? 20);
const FIRST_SEED = Number(process.env.SCANS_FIRST_SEED ?? 1);
const K = Number(process.env.SCANS_K ?? 10);
const NS = (process.env.SCANS_N ?? '0,2,5,all').split(',').map((n) => (n === 'all' ? Infinity : Number(n)));
const SHARES = (process.env.SCANS_SHARES ?? '0,0.25,0.5').split(',').map(Number);
const TARGET = Number(process.env.SCANS_TARGET ?? 0.015);
const SHOP_SIZE = 20;
const UNKNOWN_SIZE = 20;
/** Dev photos of a product that count among its confirmed scans (after its val photos). */
const DEV_CONFIRMED = 5;
const MAX_WRONG = 0.02;
const ALL_VIEWS: View[] = ['centre', ...AUGMENTATION_VIEWS];
/** The ways to use n > 0 scans a product, in the table's order. */
const METHODS = [
  'gate from scans',
  'scans in training',
  'scans in training, cv gate',
  'scans in training, pooled gate',
];

/** A scan: its embedding (centre view), and its product in the shop (-1: none of them). */
interface Scan {
  e: Float32Array;
  label: number;
}

interface Outcome {
  method: string;
  share: number;
  n: number;
  scored: Scored;
  scale: number;
  headSeconds: number;
}

async function main(): Promise<void> {
  const log = (line: string) => console.log(line);
  const train = await withEmbeddings(GROCERY.photos('train'), ALL_VIEWS, log);
  const { bank, bankClasses } = await bankOf(train);
  const val = await withEmbeddings(GROCERY.photos('val'), ['centre'], log);
  const dev = await withEmbeddings(GROCERY.photos('dev'), ['centre'], log);
  const valClasses = new Set(val.map((p) => p.classId));
  const eligible = [...new Set(dev.map((p) => p.classId))]
    .filter((c) => valClasses.has(c) && !bankClasses.has(c))
    .sort((a, b) => a - b);
  /** A class's confirmed scans (val, then its first dev photos) and its scans still to come. */
  const historyOf = (c: number) => [
    ...val.filter((p) => p.classId === c),
    ...dev.filter((p) => p.classId === c).slice(0, DEV_CONFIRMED),
  ];
  const futureOf = (c: number) => dev.filter((p) => p.classId === c).slice(DEV_CONFIRMED);
  console.log(
    `scans benchmark: ${eligible.length} eligible classes, shops of ${SHOP_SIZE} + ${UNKNOWN_SIZE} unknown, k = ${K}, ` +
      `seeds ${FIRST_SEED}-${FIRST_SEED + SEEDS - 1}, confirmed scans per product: val + ${DEV_CONFIRMED} dev ` +
      `(${mean(eligible.map((c) => historyOf(c).length)).toFixed(1)} on the mean), gate target ${pct(TARGET)}`,
  );
  const pool = new MlWorkerPool({ workers: os.availableParallelism(), backend: 'auto' });
  const trainHead = (data: TrainingSet, recipe: HeadRecipe, scanRows?: Int32Array) =>
    pool.trainHead({ data, recipe, scanRows });
  const outcomes: Outcome[] = [];
  try {
    for (let seed = FIRST_SEED; seed < FIRST_SEED + SEEDS; seed++) {
      const order = shuffled(eligible, mulberry32(seed * 7919));
      const shop = order.slice(0, SHOP_SIZE);
      const unknown = order.slice(SHOP_SIZE, SHOP_SIZE + UNKNOWN_SIZE);
      const enrol = shop.flatMap((c) => train.filter((p) => p.classId === c).slice(0, K));
      const photos = shopSet(enrol, shop, viewsForPhoto);
      const negatives = bankWithoutShopProducts(bank, photos).negatives;
      const withBank = { ...photos, negatives };
      const futureKnown = shop.flatMap((c) => futureOf(c).map((p) => ({ e: centre(p), label: shop.indexOf(c) })));
      const futureUnknown = unknown.flatMap((c) => futureOf(c).map(centre));
      const future = (head: HeadTrainingReport) => scoreScans(head.weights, futureKnown, futureUnknown);

      let started = performance.now();
      const [plain, cv] = await Promise.all([
        trainHead(withBank, DEFAULT_RECIPE),
        crossValidate(withBank, DEFAULT_RECIPE, GATE_FOLDS, seed, trainHead),
      ]);
      const plainSeconds = (performance.now() - started) / 1000;
      const plainFuture = future(plain);
      for (const share of SHARES) {
        const gate = chooseGateScale(
          cv.known,
          cv.unknown,
          gateOptions(medianPhotosPerProduct(photos), MAX_WRONG, share),
        );
        const scored = plainFuture;
        outcomes.push({ method: 'no scans', share, n: 0, scored, scale: gate.scale, headSeconds: plainSeconds });
        for (const n of NS.filter((v) => v > 0)) {
          const known = shop.flatMap((c) =>
            historyOf(c)
              .slice(0, n)
              .map((p) => ({ e: centre(p), label: shop.indexOf(c) })),
          );
          const none = confirmedNone(unknown, historyOf, known.length, share, n);
          const scans = [...known, ...none];

          // The head without scans, its scale chosen on them.
          const onScans = scoreScans(
            plain.weights,
            known,
            none.map((s) => s.e),
          );
          const fromScans = gateOn(onScans.known, none.length ? onScans.unknown : cv.unknown, scans);
          outcomes.push({
            method: 'gate from scans',
            share,
            n,
            scored: plainFuture,
            scale: fromScans,
            headSeconds: plainSeconds,
          });

          // The scans in training; the scale from two heads that each did not see half of them.
          started = performance.now();
          const halves = [0, 1].map((h) => scans.filter((_, i) => i % 2 === h));
          const [whole, ...folds] = await Promise.all([
            trainHead(withScans(withBank, scans), DEFAULT_RECIPE),
            ...halves.map((half) => trainHead(withScans(withBank, half), DEFAULT_RECIPE)),
          ]);
          const seconds = (performance.now() - started) / 1000;
          const heldOut = folds.map((fold, f) => {
            const other = halves[1 - f];
            return scoreScans(
              fold.weights,
              other.filter((s) => s.label >= 0),
              other.filter((s) => s.label < 0).map((s) => s.e),
            );
          });
          const crossFitted = gateOn(
            heldOut.flatMap((h) => h.known),
            none.length ? heldOut.flatMap((h) => h.unknown) : cv.unknown,
            scans,
          );
          const wholeFuture = future(whole);
          outcomes.push({
            method: 'scans in training',
            share,
            n,
            scored: wholeFuture,
            scale: crossFitted,
            headSeconds: seconds,
          });
          // The same head at the gate cross-validation chose without scans (as the service's first model).
          outcomes.push({
            method: 'scans in training, cv gate',
            share,
            n,
            scored: wholeFuture,
            scale: gate.scale,
            headSeconds: seconds,
          });
          // Its scale chosen on the held-out scans and cross-validation's together: the scans update the prior.
          const pooled = gateOn(
            [...heldOut.flatMap((h) => h.known), ...cv.known],
            [...heldOut.flatMap((h) => h.unknown), ...cv.unknown],
            scans,
          );
          outcomes.push({
            method: 'scans in training, pooled gate',
            share,
            n,
            scored: wholeFuture,
            scale: pooled,
            headSeconds: seconds,
          });
        }
      }
      console.log(`shop ${seed} done`);
    }
  } finally {
    await pool.destroy();
  }
  report(outcomes);
}

function centre(p: Photo): Float32Array {
  return p.views.get('centre')!;
}

/**
 * Scans of the unknown products confirmed as none, as many as make `share` of all confirmed scans: round robin over
 * the products, each giving its confirmed scans in order, at most `n` a product.
 */
function confirmedNone(
  unknown: number[],
  historyOf: (c: number) => Photo[],
  knownCount: number,
  share: number,
  n: number,
): Scan[] {
  const wanted = Math.round((share / (1 - share)) * knownCount);
  const queues = unknown.map((c) => historyOf(c).slice(0, n));
  const out: Scan[] = [];
  for (let round = 0; out.length < wanted && queues.some((q) => round < q.length); round++)
    for (const q of queues) if (round < q.length && out.length < wanted) out.push({ e: centre(q[round]), label: -1 });
  return out;
}

/** The scale for `scans` as the till confirmed them: no shift and no correction, for the share confirmed as none. */
function gateOn(known: KnownScan[], unknown: number[], scans: Scan[]): number {
  const share = scans.filter((s) => s.label < 0).length / scans.length;
  const options: GateOptions = {
    targetFalseAccept: TARGET,
    unknownShare: share,
    minCalibrationShare: 0,
    scaleShift: 1,
    falseAcceptCorrection: 1,
    correctAcceptCorrection: 1,
    fallbackScale: 0.8,
    minScale: 0.05,
    maxScale: 100,
  };
  return chooseGateScale(known, unknown, options).scale;
}

/** `data` with the scans added: those of a product as rows of it (centre view), those confirmed as none as negatives. */
function withScans(data: TrainingSet, scans: Scan[]): TrainingSet {
  const known = scans.filter((s) => s.label >= 0);
  const rows = data.labels.length;
  const embeddings = new Float32Array((rows + known.length) * EMBEDDING_SIZE);
  embeddings.set(data.embeddings.subarray(0, rows * EMBEDDING_SIZE));
  known.forEach((s, i) => embeddings.set(s.e, (rows + i) * EMBEDDING_SIZE));
  const firstPhoto = Math.max(...data.photos) + 1;
  return {
    embeddings,
    labels: Int32Array.from([...data.labels, ...known.map((s) => s.label)]),
    photos: Int32Array.from([...data.photos, ...known.map((_, i) => firstPhoto + i)]),
    plain: Uint8Array.from([...data.plain, ...known.map(() => 1)]),
    classCount: data.classCount,
    negatives: withNone(
      data.negatives!,
      scans.filter((s) => s.label < 0),
    ),
  };
}

/** The negatives with the scans confirmed as none added (quantized again together). */
function withNone(negatives: NegativeSet, none: Scan[]): NegativeSet {
  if (!none.length) return negatives;
  const rows = negatives.photos.length;
  const values = new Float32Array((rows + none.length) * EMBEDDING_SIZE);
  negatives.bytes.forEach((b, i) => (values[i] = b * negatives.scale));
  none.forEach((s, i) => values.set(s.e, (rows + i) * EMBEDDING_SIZE));
  const firstPhoto = Math.max(...negatives.photos) + 1;
  return {
    ...quantizeBank(values),
    photos: Int32Array.from([...negatives.photos, ...none.map((_, i) => firstPhoto + i)]),
  };
}

function report(outcomes: Outcome[]): void {
  const header = [
    'share',
    'scans/product',
    'method',
    'named right',
    'named wrong',
    'worst shop',
    'shops >2%',
    'oracle right @≤2%',
    'head s',
  ];
  const rows: string[][] = [];
  const row = (share: number, n: number, method: string) => {
    const rs = outcomes.filter((o) => o.share === share && o.n === n && o.method === method);
    const at = rs.map((r) => acceptsAt(r.scored, r.scale, share));
    const wrong = at.map((a) => a.wrong);
    rows.push([
      String(share),
      Number.isFinite(n) ? String(n) : 'all',
      method,
      pct(mean(at.map((a) => a.right))),
      pct(mean(wrong)),
      pct(Math.max(...wrong)),
      `${wrong.filter((w) => w > MAX_WRONG).length}/${rs.length}`,
      pct(oracleRight(rs, MAX_WRONG)),
      mean(rs.map((r) => r.headSeconds)).toFixed(2),
    ]);
  };
  for (const share of SHARES) {
    row(share, 0, 'no scans');
    for (const n of NS.filter((v) => v > 0)) for (const method of METHODS) row(share, n, method);
  }
  console.log(
    `\nk = ${K}, mean of ${SEEDS} shops (named right: of the shop's scans to come; wrong: of all scans to come):`,
  );
  console.log(table([header, ...rows]));
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
