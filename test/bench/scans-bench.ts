/**
 * `npm run bench:scans`: what the till's confirmed scans are worth (issue 31). Shops as in gate-bench.ts: 20 grocery
 * products enrolling their first k train photos and 20 products they do not sell, drawn from the classes outside the
 * negative bank that have val and dev photos. The till's confirmed scans of a product are its val photos, then its
 * first 5 dev photos (5–10 a product), confirmed as that product for the shop's and as none of them for the others;
 * the scans still to come are the rest of its dev photos. A share s of the till's scans shows unknown products, in
 * the confirmed scans as in those to come (s = 0: no scan was confirmed as none, and the stated share, s, applies).
 *
 * Per s and number n of confirmed scans per product (SCANS_N: 0, 2, 5, all), the service's own training, from the
 * pieces recognition.ts's trainGatedHead puts together (cross-validation run once per shop): without scans, the gate
 * from cross-validation for the stated s; with them, the head trained on the photos and the scans and its gate chosen
 * on the scans (cross-fitted) and cross-validation's together (till-scans.ts). Training seconds: the head and
 * cross-validation, plus with scans the heads that cross-fit them (run one after the other here, at once in the
 * service). Each is measured on the scans still to come at its own gate (named right: of the shop's
 * scans; named wrong: of all scans, mean and worst shop; the oracle, the best single scale chosen afterwards on these
 * scans for all shops at once), beside what the model says of itself (metadata.json's estimates: from
 * cross-validation without scans, measured on the scans with them).
 *
 * SCANS_SEEDS (20), SCANS_FIRST_SEED (1), SCANS_K (10), SCANS_N (0,2,5,all), SCANS_SHARES (0,0.25,0.5).
 */
import * as os from 'node:os';
import { EMBEDDING_SIZE } from '../../src/config/model-shape';
import type { View } from '../../src/dataset/preprocess';
import { chooseGateScale, type GateChoice } from '../../src/training/ml/gate';
import type { HeadRecipe } from '../../src/training/ml/head';
import { MlWorkerPool } from '../../src/training/ml/ml-worker-pool';
import { mulberry32, sharedFloat32Array, shuffled, type TrainingSet } from '../../src/training/ml';
import { bankWithoutShopProducts } from '../../src/training/negative-bank/negative-bank';
import { chooseGate, crossValidate, medianPhotosPerProduct } from '../../src/training/recognition';
import { AUGMENTATION_VIEWS, DEFAULT_RECIPE, GATE_FOLDS, gateOptions, viewsForPhoto } from '../../src/training/recipe';
import {
  crossFitScans,
  measuredUnknownShare,
  scanGateOptions,
  type ConfirmedScan,
} from '../../src/training/till-scans';
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
const SHOP_SIZE = 20;
const UNKNOWN_SIZE = 20;
/** Dev photos of a product that count among its confirmed scans (after its val photos). */
const DEV_CONFIRMED = 5;
/** RECOGNITION_MAX_FALSE_ACCEPT's default. */
const MAX_WRONG = 0.02;
const ALL_VIEWS: View[] = ['centre', ...AUGMENTATION_VIEWS];

/** A confirmed scan: its photo, and its product in the shop (-1: none of them). */
interface Scan {
  photo: Photo;
  label: number;
}

interface Outcome {
  share: number;
  n: number;
  scored: Scored;
  gate: GateChoice;
  seconds: number;
}

async function main(): Promise<void> {
  const log = (line: string) => console.log(line);
  const train = await withEmbeddings(GROCERY.photos('train'), ALL_VIEWS, log);
  const { bank, bankClasses } = await bankOf(train);
  const val = await withEmbeddings(GROCERY.photos('val'), ALL_VIEWS, log);
  const dev = await withEmbeddings(GROCERY.photos('dev'), ALL_VIEWS, log);
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
      `(${mean(eligible.map((c) => historyOf(c).length)).toFixed(1)} on the mean)`,
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
      const futureKnown = shop.flatMap((c) => futureOf(c).map((p) => ({ e: centre(p), label: shop.indexOf(c) })));
      const futureUnknown = unknown.flatMap((c) => futureOf(c).map(centre));
      const future = (head: { weights: Parameters<typeof scoreScans>[0] }) =>
        scoreScans(head.weights, futureKnown, futureUnknown);

      // Without scans: one head and one cross-validation serve every stated share.
      let started = performance.now();
      const withBank = { ...photos, negatives };
      const [plain, cv] = await Promise.all([
        trainHead(withBank, DEFAULT_RECIPE),
        crossValidate(withBank, DEFAULT_RECIPE, GATE_FOLDS, seed, trainHead),
      ]);
      const plainSeconds = (performance.now() - started) / 1000;
      const plainFuture = future(plain);
      for (const share of SHARES) {
        const cvGate = chooseGateScale(
          cv.known,
          cv.unknown,
          gateOptions(medianPhotosPerProduct(photos), MAX_WRONG, share),
        );
        outcomes.push({ share, n: 0, scored: plainFuture, gate: cvGate, seconds: plainSeconds });
        for (const n of NS.filter((v) => v > 0)) {
          const known = shop.flatMap((c) =>
            historyOf(c)
              .slice(0, n)
              .map((photo) => ({ photo, label: shop.indexOf(c) })),
          );
          const scans = [...known, ...confirmedNone(unknown, historyOf, known.length, share, n)];
          const { set, store, confirmed } = withScanRows(photos, scans);
          started = performance.now();
          const { heldOut, report: head } = await crossFitScans(
            { ...set, negatives },
            store,
            confirmed,
            DEFAULT_RECIPE,
            trainHead,
          );
          const seconds = (performance.now() - started) / 1000 + plainSeconds;
          const options = scanGateOptions(MAX_WRONG, measuredUnknownShare(confirmed) ?? share);
          const { gate } = chooseGate(cv, options, heldOut);
          outcomes.push({ share, n, scored: future(head), gate, seconds });
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
    for (const q of queues) if (round < q.length && out.length < wanted) out.push({ photo: q[round], label: -1 });
  return out;
}

/**
 * The photos' set in a store that also holds the scans, after the photos, each with the views the service embeds for
 * it (recipe.ts's viewsForPhoto), as the embedding service lays them out.
 */
function withScanRows(photos: TrainingSet, scans: Scan[]) {
  const photoValues = photos.labels.length * EMBEDDING_SIZE;
  const views = scans.map((s) => viewsForPhoto(s.photo.sha));
  const rows = views.reduce((sum, v) => sum + v.length, 0);
  const store = sharedFloat32Array(photoValues + rows * EMBEDDING_SIZE);
  store.set(photos.embeddings.subarray(0, photoValues));
  let row = photos.labels.length;
  const confirmed: ConfirmedScan[] = scans.map((scan, i) => ({
    label: scan.label,
    takenAt: null,
    rows: views[i].map((view) => {
      store.set(scan.photo.views.get(view)!, row * EMBEDDING_SIZE);
      return row++;
    }),
  }));
  return { set: { ...photos, embeddings: store.subarray(0, photoValues) }, store, confirmed };
}

function report(outcomes: Outcome[]): void {
  const header = [
    'share',
    'scans/product',
    'named right',
    'named wrong',
    'worst shop',
    'shops >2%',
    'oracle right @≤2%',
    'says right',
    'says wrong',
    'training s',
  ];
  const rows: string[][] = [];
  for (const share of SHARES) {
    for (const n of NS) {
      const rs = outcomes.filter((o) => o.share === share && o.n === n);
      const at = rs.map((r) => acceptsAt(r.scored, r.gate.scale, share));
      const wrong = at.map((a) => a.wrong);
      const said = (pick: (g: GateChoice) => number | null) => {
        const values = rs.map((r) => pick(r.gate)).filter((v): v is number => v !== null);
        return values.length ? pct(mean(values)) : '-';
      };
      rows.push([
        String(share),
        Number.isFinite(n) ? String(n) : 'all',
        pct(mean(at.map((a) => a.right))),
        pct(mean(wrong)),
        pct(Math.max(...wrong)),
        `${wrong.filter((w) => w > MAX_WRONG).length}/${rs.length}`,
        pct(oracleRight(rs, MAX_WRONG)),
        said((g) => g.estimatedCorrectAccept),
        said((g) => g.estimatedFalseAccept),
        mean(rs.map((r) => r.seconds)).toFixed(2),
      ]);
    }
  }
  console.log(
    `\nk = ${K}, mean of ${SEEDS} shops (named right: of the shop's scans to come; wrong: of all scans to come; ` +
      `says: the model's own figures, from cross-validation without scans and measured on the scans with them):`,
  );
  console.log(table([header, ...rows]));
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
