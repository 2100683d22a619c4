/**
 * Learning from the till: the scans a cashier confirmed (by scanning the barcode after the model was not sure) are
 * photos of real till conditions. Each is used twice: it trains the head (a scan confirmed as none of the products
 * joins the negatives), and it is scored by a head that did not train on it, to choose and measure the gate
 * (cross-fitting: two heads, each trained on half the scans, score the other half). Chosen on the grocery benchmark
 * (`npm run bench:scans`, docs/accuracy.md). Pure apart from the head trainings it is handed (no TensorFlow, no I/O).
 */
import { EMBEDDING_SIZE } from '../config/model-shape';
import {
  acceptScale,
  argMax,
  headLogits,
  storedEmbedding,
  storeRow,
  type GateOptions,
  type HeadRecipe,
  type HeadTrainingReport,
  type HeadWeights,
  type KnownScan,
  type LinearWeights,
  type NegativeSet,
  type TrainHead,
  type TrainingSet,
} from './ml';
import { quantizeBank } from './negative-bank/negative-bank';

/** The model the till has been running (the channel's last accepted one), as far as scoring scans goes. */
export interface PreviousModel {
  trainingId: string;
  trainedAt: Date;
  /** The products it names (its metadata's `labels`), in its output order. */
  labels: string[];
  /** Its head, gate included (the till names a scan when its top probability at scale 1 reaches the threshold). */
  head: HeadWeights;
}

/** A confirmed scan, embedded: its rows in the embedding store (every view, the centre one first) and its product. */
export interface ConfirmedScan {
  /** Rows of the store the shop's photos are in (TrainingSet.embeddings of the photos' set). */
  rows: number[];
  /** The shop's class the cashier confirmed, or -1: confirmed as none of the products. */
  label: number;
  /** When the till took it (ms since 1970; null: unknown). */
  takenAt: number | null;
}

/** A scan as a head saw it: the smallest scale at which it is named (acceptScale), and whether rightly. */
export interface ScanScore {
  scale: number;
  /** Whether the top product is the one confirmed; null for a scan confirmed as none of the products. */
  correct: boolean | null;
}

/** Scores as the gate counts them: scans of products, and the scales of those confirmed as none. */
export function splitScores(scores: ScanScore[]): { known: KnownScan[]; unknown: number[] } {
  return {
    known: scores.flatMap((s) => (s.correct === null ? [] : [{ scale: s.scale, correct: s.correct }])),
    unknown: scores.flatMap((s) => (s.correct === null ? [s.scale] : [])),
  };
}

/** How a head with `logits` for a scan of `label` (-1: confirmed as none) sees it. */
export function scoreOf(logits: ArrayLike<number>, label: number): ScanScore {
  return { scale: acceptScale(logits), correct: label < 0 ? null : argMax(logits) === label };
}

/**
 * The gate from the scans is chosen for this share of the mean wrong names the service allows
 * (RECOGNITION_MAX_FALSE_ACCEPT): chosen at 1.5 % for 2 %, the scans still to come of 20 benchmark shops got 0.5 %
 * wrong on the mean and 1.7 % on the worst shop (share 0.5, all scans).
 */
export const SCAN_GATE_MARGIN = 0.75;

/**
 * The scale is chosen for a mix with at least this share of unknown scans, as cross-validation's own gate is (see
 * GateOptions.minCalibrationShare): a till that confirms no scan as none still sees a few, and cross-validation's
 * impostors show their tail. With 2 or 5 scans a product at share 0, 0 let the worst of 20 benchmark shops get 6.2 and
 * 10.6 % wrong; 0.1 gave 3.3 and 2.4 % (0.25: 1.9 and 0.9 %, but 34–35 % named against 49–50 %), and changed nothing
 * at shares 0.25 and 0.5.
 */
export const SCAN_GATE_MIN_UNKNOWN_SHARE = 0.1;

/**
 * The gate's options on scans pooled with cross-validation's: they are the till's own, so no shift from enrolment
 * photos to the till and no correction apply; the share is the one the scans show.
 */
export function scanGateOptions(maxFalseAccept: number, unknownShare: number): GateOptions {
  return {
    targetFalseAccept: maxFalseAccept * SCAN_GATE_MARGIN,
    unknownShare,
    minCalibrationShare: SCAN_GATE_MIN_UNKNOWN_SHARE,
    scaleShift: 1,
    falseAcceptCorrection: 1,
    correctAcceptCorrection: 1,
    fallbackScale: 0.8,
    minScale: 0.05,
    maxScale: 100,
  };
}

/**
 * The share of the till's scans that show things the shop does not sell, as the scans measure it: null when no scan
 * was confirmed as none (a backend that does not send those would otherwise claim a share of 0).
 */
export function measuredUnknownShare(scans: ConfirmedScan[]): number | null {
  const none = scans.filter((s) => s.label < 0).length;
  return none ? none / scans.length : null;
}

/**
 * The photos' set with `scans` added: a scan of a product trains as rows of it (every view, as a photo does), a scan
 * confirmed as none joins the negatives (its centre view, as the bank's photos). `data`'s rows are rows of `store`
 * (without `rows`, its first rows, as the embedding service makes them).
 */
export function withScans(data: TrainingSet, store: Float32Array, scans: ConfirmedScan[]): TrainingSet {
  const photoRows = Array.from(data.labels, (_, r) => storeRow(data, r));
  const known = scans.filter((s) => s.label >= 0);
  const firstPhoto = data.photos.length ? Math.max(...data.photos) + 1 : 0;
  const scanRows = known.flatMap((scan, i) =>
    scan.rows.map((row, v) => ({ row, label: scan.label, photo: firstPhoto + i, plain: v === 0 })),
  );
  return {
    embeddings: store,
    rows: Int32Array.from([...photoRows, ...scanRows.map((s) => s.row)]),
    labels: Int32Array.from([...data.labels, ...scanRows.map((s) => s.label)]),
    photos: Int32Array.from([...data.photos, ...scanRows.map((s) => s.photo)]),
    plain: Uint8Array.from([...data.plain, ...scanRows.map((s) => (s.plain ? 1 : 0))]),
    classCount: data.classCount,
    negatives: withNegatives(
      data.negatives,
      store,
      scans.filter((s) => s.label < 0).map((s) => s.rows[0]),
    ),
  };
}

/** The negatives with rows of `store` added (quantized again together); undefined when there are none at all. */
export function withNegatives(
  negatives: NegativeSet | undefined,
  store: Float32Array,
  rows: number[],
): NegativeSet | undefined {
  if (!rows.length) return negatives;
  const bankRows = negatives?.photos.length ?? 0;
  const values = new Float32Array((bankRows + rows.length) * EMBEDDING_SIZE);
  negatives?.bytes.forEach((b, i) => (values[i] = b * negatives.scale));
  rows.forEach((row, i) => values.set(storedEmbedding(store, row), (bankRows + i) * EMBEDDING_SIZE));
  const firstPhoto = bankRows ? Math.max(...negatives!.photos) + 1 : 0;
  return {
    ...quantizeBank(values),
    photos: Int32Array.from([...(negatives?.photos ?? []), ...rows.map((_, i) => firstPhoto + i)]),
  };
}

/**
 * The two halves of the scans for cross-fitting: every other scan of each product (and of those confirmed as none),
 * in the order given, so that each half holds about half of every product's scans.
 */
export function scanHalves(scans: ConfirmedScan[]): [ConfirmedScan[], ConfirmedScan[]] {
  const seen = new Map<number, number>();
  const halves: [ConfirmedScan[], ConfirmedScan[]] = [[], []];
  for (const scan of scans) {
    const index = seen.get(scan.label) ?? 0;
    seen.set(scan.label, index + 1);
    halves[index % 2].push(scan);
  }
  return halves;
}

/**
 * Trains the head on the photos and every scan, and two heads on the photos and half the scans, each scoring the
 * other half's centre views: every scan is scored by a head that did not train on it (`heldOut`, in the order of
 * `scans`).
 */
export async function crossFitScans(
  data: TrainingSet,
  store: Float32Array,
  scans: ConfirmedScan[],
  recipe: HeadRecipe,
  train: TrainHead,
  start?: LinearWeights,
): Promise<{ report: HeadTrainingReport; heldOut: ScanScore[] }> {
  const halves = scanHalves(scans);
  const [report, ...folds] = await Promise.all([
    train(withScans(data, store, scans), recipe, undefined, start),
    ...halves.map((half, h) =>
      train(
        withScans(data, store, half),
        recipe,
        Int32Array.from(halves[1 - h], (s) => s.rows[0]),
        start,
      ),
    ),
  ]);
  const scoreOfScan = new Map<ConfirmedScan, ScanScore>();
  const k = data.classCount;
  folds.forEach((fold, h) =>
    halves[1 - h].forEach((scan, i) =>
      scoreOfScan.set(scan, scoreOf(fold.scanLogits!.subarray(i * k, (i + 1) * k), scan.label)),
    ),
  );
  return { report, heldOut: scans.map((scan) => scoreOfScan.get(scan)!) };
}

/** What the held-out scans show at a gate's scale: the till's own figures for the model. */
export interface ScanMeasurement {
  /** Scans of the shop's products, and how many of them the model names right and wrong. */
  known: number;
  namedRight: number;
  namedWrongKnown: number;
  /** Scans confirmed as none of the products, and how many of them the model names as one. */
  none: number;
  namedNone: number;
  /** The share of unknown scans the gate was chosen for (measured when `none` > 0, else stated). */
  unknownShare: number;
}

export function measureOnScans(scores: ScanScore[], scale: number, unknownShare: number): ScanMeasurement {
  const { known, unknown } = splitScores(scores);
  return { ...countAtScale(known, unknown, scale), unknownShare };
}

/** Scans of products named right and wrongly at `scale`, and scans of things not sold named as a product. */
export function countAtScale(
  known: KnownScan[],
  unknown: number[],
  scale: number,
): Omit<ScanMeasurement, 'unknownShare'> {
  const accepted = known.filter((s) => s.scale <= scale);
  return {
    known: known.length,
    namedRight: accepted.filter((s) => s.correct).length,
    namedWrongKnown: accepted.filter((s) => !s.correct).length,
    none: unknown.length,
    namedNone: unknown.filter((s) => s <= scale).length,
  };
}

/**
 * The upper end of the 95 % Wilson interval of a share measured as `count` of `total`: what `count` wrong names in
 * `total` scans allow the true share to be (1 when nothing was measured).
 */
export function upperBound95(count: number, total: number): number {
  if (!total) return 1;
  const z = 1.96;
  const p = count / total;
  const z2n = (z * z) / total;
  return Math.min(1, (p + z2n / 2 + z * Math.sqrt((p * (1 - p)) / total + z2n / (4 * total))) / (1 + z2n));
}

/** What the scans taken since the previous model show of it and of the new one (each at its own gate). */
export interface SincePrevious {
  trainingId: string;
  trainedAt: Date;
  thisModel: ScanMeasurement;
  previousModel: ScanMeasurement;
}

/**
 * The new model's held-out `scores` (in the order of `scans`) and the previous model's on the scans taken after the
 * previous model was trained
 * (scans it cannot have learnt from; a scan without a time is left out). The previous model names a scan's product by
 * its label id, so products added or removed since count as it saw them. Null when no scan is that recent.
 */
export function compareWithPrevious(
  previous: PreviousModel,
  labelIds: string[],
  scans: ConfirmedScan[],
  scores: ScanScore[],
  store: Float32Array,
  scale: number,
  unknownShare: number,
): SincePrevious | null {
  const since = scans.flatMap((scan, i) =>
    scan.takenAt !== null && scan.takenAt > previous.trainedAt.getTime() ? [{ scan, score: scores[i] }] : [],
  );
  if (!since.length) return null;
  const previousScores = since.map(({ scan }) => {
    const logits = headLogits(previous.head, storedEmbedding(store, scan.rows[0]));
    const named = previous.labels[argMax(logits)];
    return { scale: acceptScale(logits), correct: scan.label < 0 ? null : named === labelIds[scan.label] };
  });
  return {
    trainingId: previous.trainingId,
    trainedAt: previous.trainedAt,
    thisModel: measureOnScans(
      since.map((s) => s.score),
      scale,
      unknownShare,
    ),
    // The previous model's gate is in its head: scale 1.
    previousModel: measureOnScans(previousScores, 1, unknownShare),
  };
}
