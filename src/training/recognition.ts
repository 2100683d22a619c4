/**
 * Choosing a model's recognition gate from the shop's own photos: cross-validation in which a share of the
 * products plays the part of things the shop does not sell, and a share of every other product's photos plays the
 * part of the cashier's scans. Pure apart from the head trainings it is handed (no TensorFlow, no I/O).
 */
import {
  acceptScale,
  argMax,
  chooseGateScale,
  mulberry32,
  shuffled,
  startForClasses,
  storeRow,
  type GateChoice,
  type GateOptions,
  type HeadRecipe,
  type HeadTrainingReport,
  type HeadWeights,
  type KnownScan,
  type LinearWeights,
  type TrainHead,
  type TrainingSet,
} from './ml';
import {
  countAtScale,
  crossFitScans,
  measureOnScans,
  splitScores,
  type ConfirmedScan,
  type ScanMeasurement,
  type ScanScore,
} from './till-scans';

/** One cross-validation fold: a head trained without some products (the impostors) and without some photos. */
interface Fold {
  set: TrainingSet;
  /** Fold class index → the shop's class index. */
  classes: number[];
  /** Plain rows (in the full set) of the photos held out from products the fold knows: the known scans. */
  knownRows: number[];
  /** Plain rows of the impostor products' photos: the unknown scans. */
  impostorRows: number[];
}

/**
 * `folds` folds: products are dealt into `folds` groups (seeded), and in fold f the products of group f are
 * impostors while every other product's photo number f mod (its photo count) is held out as a scan.
 */
export function crossValidationFolds(data: TrainingSet, folds: number, seed: number): Fold[] {
  const k = data.classCount;
  const random = mulberry32(seed ^ 0xc0ffee);
  const order = shuffled(
    Array.from({ length: k }, (_, c) => c),
    random,
  );
  const group = new Int32Array(k);
  order.forEach((c, i) => (group[c] = i % folds));
  // Index of every photo within its class, in row order.
  const photoIndex = new Map<number, number>();
  const seenPerClass = new Array<number>(k).fill(0);
  data.photos.forEach((photo, row) => {
    if (!photoIndex.has(photo)) photoIndex.set(photo, seenPerClass[data.labels[row]]++);
  });
  const result: Fold[] = [];
  for (let f = 0; f < folds; f++) {
    const classes = Array.from({ length: k }, (_, c) => c).filter((c) => group[c] !== f);
    if (classes.length < 2) continue;
    const foldClass = new Map(classes.map((c, i) => [c, i]));
    const trainRows: number[] = [];
    const knownRows: number[] = [];
    const impostorRows: number[] = [];
    data.labels.forEach((label, row) => {
      const photo = data.photos[row];
      // One photo per product and fold, so a fold's head is nearly the exported one (a product with fewer than
      // three photos keeps them all).
      const heldOut = seenPerClass[label] >= 3 && photoIndex.get(photo) === f % seenPerClass[label];
      if (group[label] === f) {
        if (data.plain[row]) impostorRows.push(row);
      } else if (heldOut) {
        if (data.plain[row]) knownRows.push(row);
      } else trainRows.push(row);
    });
    if (!knownRows.length) continue;
    result.push({ set: subset(data, trainRows, foldClass), classes, knownRows, impostorRows });
  }
  return result;
}

/** The rows of `data` as a set of their own, sharing its embedding store; classes renumbered by `classOf`. */
function subset(data: TrainingSet, rows: number[], classOf: Map<number, number>): TrainingSet {
  return {
    embeddings: data.embeddings,
    rows: Int32Array.from(rows, (r) => storeRow(data, r)),
    labels: Int32Array.from(rows, (r) => classOf.get(data.labels[r])!),
    photos: Int32Array.from(rows, (r) => data.photos[r]),
    plain: Uint8Array.from(rows, (r) => data.plain[r]),
    classCount: classOf.size,
    negatives: data.negatives,
  };
}

/** A known scan that cross-validation named as another product: the pair behind look-alike advice. */
export interface Confusion {
  actual: number;
  predicted: number;
  /** The scan's photo (TrainingSet.photos). */
  photo: number;
}

export interface CrossValidation {
  known: KnownScan[];
  unknown: number[];
  confusions: Confusion[];
  /**
   * Per shop class: known scans, how many were named right (closed-set, among the fold's products), and the
   * acceptScale of each of those (the gate lets the till name the ones at or below its scale).
   */
  perClass: { scans: number; correct: number; rightScales: number[] }[];
}

/**
 * Trains every fold (all at once: the pool runs as many as it has workers) and scores its scans. Each training
 * scores its own fold's scans in one product of matrices where it ran: row by row in JavaScript, after the last fold,
 * the scoring took 0.27 s of a 3.6 s retrain (k = 10 + 10 %).
 */
export async function crossValidate(
  data: TrainingSet,
  recipe: HeadRecipe,
  folds: number,
  seed: number,
  train: TrainHead,
  start?: LinearWeights,
): Promise<CrossValidation> {
  const plan = crossValidationFolds(data, folds, seed);
  const reports = await Promise.all(
    plan.map((fold) =>
      train(
        fold.set,
        recipe,
        Int32Array.from([...fold.knownRows, ...fold.impostorRows], (row) => storeRow(data, row)),
        start && startForClasses(start, fold.classes),
      ),
    ),
  );
  const result: CrossValidation = {
    known: [],
    unknown: [],
    confusions: [],
    perClass: Array.from({ length: data.classCount }, () => ({ scans: 0, correct: 0, rightScales: [] as number[] })),
  };
  plan.forEach((fold, f) => {
    const k = fold.classes.length;
    const logits = reports[f].scanLogits!;
    const logitsOf = (scan: number) => logits.subarray(scan * k, (scan + 1) * k);
    fold.knownRows.forEach((row, scan) => {
      const predicted = fold.classes[argMax(logitsOf(scan))];
      const actual = data.labels[row];
      const scale = acceptScale(logitsOf(scan));
      result.known.push({ scale, correct: predicted === actual });
      result.perClass[actual].scans++;
      if (predicted === actual) {
        result.perClass[actual].correct++;
        result.perClass[actual].rightScales.push(scale);
      } else result.confusions.push({ actual, predicted, photo: data.photos[row] });
    });
    fold.impostorRows.forEach((_, i) => result.unknown.push(acceptScale(logitsOf(fold.knownRows.length + i))));
  });
  return result;
}

export interface GatedHead {
  /** The exported head's training (unscaled weights). */
  report: HeadTrainingReport;
  /** The exported head, its logits scaled by the gate. */
  head: HeadWeights;
  gate: GateChoice;
  crossValidation: CrossValidation;
  /** With the till's confirmed scans: what the scans held out of the heads that scored them show at the gate… */
  tillScans?: ScanMeasurement;
  /** …and each scan's score, in the order of the scans. */
  scanScores?: ScanScore[];
}

/** The till's confirmed scans, in the store the shop's photos are in (see till-scans.ts). */
export interface ScansToLearn {
  store: Float32Array;
  scans: ConfirmedScan[];
}

/**
 * Trains the head on all of `data` and, at the same time, the cross-validation folds that choose its gate; returns
 * the head with the gate baked in. With the till's confirmed scans, the head trains on them too, and the gate is
 * chosen on the scans (each scored by a head that did not train on it) and cross-validation's scans together: the
 * scans update what cross-validation alone would choose (`options` are then scanGateOptions). Every head's fit
 * starts from `start` when given (the last model's head, its classes in `data`'s order).
 */
export async function trainGatedHead(
  data: TrainingSet,
  recipe: HeadRecipe,
  folds: { count: number; seed: number },
  options: GateOptions,
  train: TrainHead,
  till?: ScansToLearn,
  start?: LinearWeights,
): Promise<GatedHead> {
  const [whole, crossValidation] = await Promise.all([
    till?.scans.length
      ? crossFitScans(data, till.store, till.scans, recipe, train, start)
      : train(data, recipe, undefined, start).then((report) => ({ report, heldOut: undefined })),
    crossValidate(data, recipe, folds.count, folds.seed, train, start),
  ]);
  const { report, heldOut } = whole;
  const { gate, tillScans } = chooseGate(crossValidation, options, heldOut);
  return {
    report,
    head: scaledHead(report.weights, gate.scale),
    gate,
    crossValidation,
    tillScans,
    scanScores: heldOut,
  };
}

/**
 * The gate from cross-validation's scans and, when there are, the till's scans held out of the heads that scored
 * them, pooled; with the scans, what they measured at it.
 */
export function chooseGate(
  crossValidation: CrossValidation,
  options: GateOptions,
  heldOut?: ScanScore[],
): { gate: GateChoice; tillScans?: ScanMeasurement } {
  const scans = splitScores(heldOut ?? []);
  const pooled = chooseGateScale(
    [...scans.known, ...crossValidation.known],
    [...scans.unknown, ...crossValidation.unknown],
    options,
  );
  if (!heldOut) return { gate: pooled };
  const tillScans = measureOnScans(heldOut, pooled.scale, options.unknownShare);
  return { gate: { ...pooled, ...estimatesFromScans(tillScans, crossValidation, pooled) }, tillScans };
}

/**
 * With the till's scans, what the till will do is what the scans measured at the gate (the pooled choice mixes in
 * cross-validation's photos, taken on the day of enrolment), and cross-validation's figures are its own: products'
 * estimates scale theirs by the same ratio as without scans (model-card.ts).
 */
function estimatesFromScans(scans: ScanMeasurement, cv: CrossValidation, pooled: GateChoice): Partial<GateChoice> {
  const share = scans.unknownShare;
  const atGate = (count: number, total: number) => (total ? count / total : null);
  const inCv = countAtScale(cv.known, cv.unknown, pooled.scale);
  const cvKnownWrong = atGate(inCv.namedWrongKnown, inCv.known);
  const cvUnknownNamed = atGate(inCv.namedNone, inCv.none);
  // What the scans lack (none confirmed as none, say), cross-validation stands in for.
  const knownWrong = atGate(scans.namedWrongKnown, scans.known) ?? cvKnownWrong ?? 0;
  const unknownNamed = atGate(scans.namedNone, scans.none) ?? cvUnknownNamed ?? 0;
  return {
    estimatedCorrectAccept: atGate(scans.namedRight, scans.known) ?? pooled.estimatedCorrectAccept,
    estimatedFalseAccept: (1 - share) * knownWrong + share * unknownNamed,
    crossValidatedCorrectAccept: atGate(inCv.namedRight, inCv.known),
    crossValidatedFalseAccept:
      cvKnownWrong === null || cvUnknownNamed === null ? null : (1 - share) * cvKnownWrong + share * cvUnknownNamed,
  };
}

/** The head with its logits multiplied by `scale` (the output layer has no bias, so scaling its kernel does it). */
export function scaledHead(weights: HeadWeights, scale: number): HeadWeights {
  return { ...weights, outputKernel: weights.outputKernel.map((w) => w * scale) };
}

/** The number of photos (plain rows) of each product. */
export function photosPerProduct(data: TrainingSet): number[] {
  const counts = new Array<number>(data.classCount).fill(0);
  data.plain.forEach((plain, row) => plain && counts[data.labels[row]]++);
  return counts;
}

/** The median number of photos (plain rows) per product. */
export function medianPhotosPerProduct(data: TrainingSet): number {
  const counts = photosPerProduct(data).sort((a, b) => a - b);
  const mid = counts.length >> 1;
  return counts.length % 2 ? counts[mid] : (counts[mid - 1] + counts[mid]) / 2;
}
