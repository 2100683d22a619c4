/**
 * The model card: what metadata.json says about a trained model (its cross-validation, its recognition gate, each
 * product's figures and the statement of its quality). Pure: from the trained model to MetadataInput.
 */
import { isHttpUrl } from '../common/egress';
import type { InputRange } from '../config/ml-choices';
import { lookAlikes } from '../training/advice';
import { CLIENT_THRESHOLD } from '../training/ml';
import { describeRecipe, GATE_FOLDS } from '../training/recipe';
import { photosPerProduct, type CrossValidation } from '../training/recognition';
import type { TrainingResult } from '../training/trainer.service';
import { upperBound95, type ScanMeasurement } from '../training/till-scans';
import {
  describeQuality,
  lookAlikeAdvice,
  photoAdvice,
  type ProductFigures,
  type ScanCounts,
  type TillScanFigures,
} from './model-quality';
import {
  confusionOf,
  type MetadataInput,
  type ModelMetrics,
  type RecognitionMetadata,
} from './teachable-machine-format';

/** What the model card needs beside the trained model. */
export interface ModelCardFacts {
  trainingId: string;
  trainedAt: Date;
  modelName: string;
  inputRange: InputRange;
  tfjsVersion: string;
  /** Seconds per stage so far. */
  secondsPerStage: Record<string, number>;
  userMetadata?: Record<string, unknown>;
}

export function modelCard(trained: TrainingResult, facts: ModelCardFacts): MetadataInput {
  const { labels, gated, recipe, baseModel } = trained;
  const recognition = recognitionMetadata(trained);
  return {
    trainingId: facts.trainingId,
    trainedAt: facts.trainedAt,
    modelName: facts.modelName,
    labels: labels.map((l) => l.id),
    labelNames: labels.map((l) => l.name),
    imageCount: trained.images.length,
    tfjsVersion: facts.tfjsVersion,
    metrics: metricsFor(trained, facts.secondsPerStage),
    recognition,
    quality: describeQuality({
      products: productFigures(trained),
      photos: trained.images.length,
      till:
        recognition.estimatedCorrectAccept === null || recognition.estimatedFalseAccept === null
          ? null
          : {
              named: recognition.estimatedCorrectAccept,
              wrong: recognition.estimatedFalseAccept,
              unknownShare: recognition.unknownShare,
            },
      lookAlikes: recognition.lookAlikes,
      photoFindings: trained.photoFindings,
      tillScans: recognition.tillScans,
    }),
    inputRange: facts.inputRange,
    // A local path would show where the service keeps its files: only a URL goes into the model's metadata.
    baseModel: { url: isHttpUrl(baseModel.source) ? baseModel.source : null, sha256: baseModel.sha256 },
    recipe: {
      ...recipe,
      views: 'centre + one crop per photo',
      bankViews: 'centre',
      description: describeRecipe(recipe, {
        products: labels.length,
        iterations: gated.report.iterations,
        withBank: Boolean(trained.negatives?.photos.length),
      }),
    },
    userMetadata: facts.userMetadata,
  };
}

/**
 * Each product's figures for the words about the model (model-quality.ts): its photos, its cross-validation scans
 * named right, and the share of its scans the till is expected to name: its scans named at the gate, scaled as the
 * gate's own estimate scales cross-validation for scans taken on other days.
 */
export function productFigures({ set, labels, gated }: TrainingResult): ProductFigures[] {
  const { crossValidation: cv, gate } = gated;
  // None named in cross-validation: none expected at the till either.
  const tillShare =
    gate.estimatedCorrectAccept === null
      ? null
      : gate.crossValidatedCorrectAccept
        ? gate.estimatedCorrectAccept / gate.crossValidatedCorrectAccept
        : 0;
  const photos = photosPerProduct(set);
  return labels.map(({ name }, c) => {
    const { scans, correct, rightScales } = cv.perClass[c];
    return {
      name,
      photos: photos[c],
      scans,
      namedRight: correct,
      atTill:
        scans && tillShare !== null
          ? Math.min(1, (rightScales.filter((scale) => scale <= gate.scale).length / scans) * tillShare)
          : null,
    };
  });
}

/** Closed-set accuracy of the folds on their held-out photos (among the products each fold knew). */
export function closedSetAccuracy(cv: CrossValidation): number | null {
  return cv.known.length ? share(cv.known.filter((s) => s.correct).length, cv.known.length) : null;
}

function metricsFor({ gated, labels }: TrainingResult, secondsPerStage: Record<string, number>): ModelMetrics {
  const cv = gated.crossValidation;
  return {
    validationAccuracy: closedSetAccuracy(cv),
    validationImages: cv.known.length,
    perClassAccuracy: Object.fromEntries(
      labels.map((l, i) => [l.id, cv.perClass[i].scans ? share(cv.perClass[i].correct, cv.perClass[i].scans) : null]),
    ),
    ...confusionOf(
      labels.map((l) => l.id),
      cv.perClass.map((c) => c.correct),
      cv.confusions,
    ),
    headIterations: gated.report.iterations,
    secondsPerStage,
  };
}

function recognitionMetadata(trained: TrainingResult): RecognitionMetadata {
  const { gate, crossValidation: cv } = trained.gated;
  const { negatives } = trained;
  return {
    threshold: CLIENT_THRESHOLD,
    logitScale: round4(gate.scale),
    targetFalseAccept: trained.targetFalseAccept,
    unknownShare: trained.unknownShare,
    estimatedCorrectAccept: rounded(gate.estimatedCorrectAccept),
    estimatedFalseAccept: rounded(gate.estimatedFalseAccept),
    method:
      (trained.gated.tillScans
        ? `logit scale chosen on the till's confirmed scans (each scored by one of two heads trained on the other ` +
          `half of them) and ${GATE_FOLDS}-fold cross-validation's scans together, for ` +
          `${trained.unknownShareSource === 'scans' ? 'the measured' : 'the stated'} unknown share; linear head ` +
          `trained on the photos and the scans (those confirmed as none beside the negative bank)`
        : `logit scale chosen by ${GATE_FOLDS}-fold cross-validation (a quarter of the products as impostors, one ` +
          `photo of every other product as a scan per fold) for at least a quarter of unknown scans, then shifted ` +
          `for the stated unknown share by factors measured on development grocery shops; linear head`) +
      (!negatives
        ? '; no negative bank: it could not be had for this base model yet (the service log says why)'
        : negatives.photos.length
          ? '; head trained against a negative bank (outlier exposure)'
          : "; the negative bank was left out whole (each of its products looks like one of the shop's)"),
    crossValidation: {
      folds: GATE_FOLDS,
      knownScans: gate.knownScans,
      unknownScans: gate.unknownScans,
      correctAccept: rounded(gate.crossValidatedCorrectAccept),
      falseAccept: rounded(gate.crossValidatedFalseAccept),
    },
    negativeBank: negatives ? { photos: negatives.photos.length, classesLeftOut: trained.bankClassesLeftOut } : null,
    lookAlikes: lookAlikes(cv.confusions, trained.labels).map((pair) => ({
      ...pair,
      advice: lookAlikeAdvice(pair.names),
    })),
    advice: photoAdvice(trained.photoFindings),
    tillScans: tillScanFigures(trained),
  };
}

function tillScanFigures({ gated, unknownShareSource, sincePrevious }: TrainingResult): TillScanFigures | null {
  const scans = gated.tillScans;
  if (!scans) return null;
  return {
    ...scanCounts(scans),
    wrongUpTo: share(upperBound95(scans.namedWrongKnown + scans.namedNone, scans.known + scans.none), 1),
    unknownShareFrom: unknownShareSource,
    sincePrevious: sincePrevious && {
      trainingId: sincePrevious.trainingId,
      trainedAt: sincePrevious.trainedAt.toISOString(),
      thisModel: scanCounts(sincePrevious.thisModel),
      previousModel: scanCounts(sincePrevious.previousModel),
    },
  };
}

function scanCounts(scans: ScanMeasurement): ScanCounts {
  return {
    ofProducts: scans.known,
    namedRight: scans.namedRight,
    namedWrong: scans.namedWrongKnown,
    ofNone: scans.none,
    namedAsProduct: scans.namedNone,
  };
}

function rounded(value: number | null): number | null {
  return value === null ? null : share(value, 1);
}

function round4(value: number): number {
  return Math.round(value * 10000) / 10000;
}

function share(part: number, whole: number): number {
  return Math.round((part / whole) * 1000) / 1000;
}
