/** The training pipeline for photos on disk: embed, train the head and its gate, export and verify. */
import { randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { Injectable } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import { DatasetError, type Dataset, type SkippedImage } from '../dataset/dataset.types';
import { ExportService } from '../export/export.service';
import type { InputRange, MODEL_FILES, ModelMetrics, RecognitionMetadata } from '../export/teachable-machine-format';
import { lookAlikes, photoAdvice, type ProductLabel } from './advice';
import { BaseModelService } from './base-model.service';
import { EmbeddingService, type EmbeddedDataset } from './embedding.service';
import { CLIENT_THRESHOLD, type GateChoice, type HeadRecipe, type NegativeSet, type TrainingSet } from './ml';
import { bankWithoutShopProducts } from './negative-bank/negative-bank';
import { NegativeBankService } from './negative-bank/negative-bank.service';
import { medianPhotosPerProduct, trainGatedHead, type CrossValidation } from './recognition';
import { DEFAULT_RECIPE, GATE_FOLDS, GATE_SEED, gateOptions } from './recipe';
import { TfPoolService } from './tf-pool.service';

export const STAGES = ['downloading', 'embedding', 'training', 'exporting', 'uploading'] as const;
export type Stage = (typeof STAGES)[number];
/** `fraction` runs from 0 to 1 within the stage. */
export type ProgressListener = (stage: Stage, fraction: number) => void;

export interface TrainRequest {
  dataset: Dataset;
  outDir: string;
  modelName: string;
  /** Overrides BASE_MODEL_URL. */
  baseModel?: string;
  /** Overrides MODEL_INPUT_RANGE. */
  inputRange?: InputRange;
  /** Overrides RECOGNITION_UNKNOWN_SHARE. */
  unknownShare?: number;
  /** Seconds already spent on earlier stages (e.g. downloading), reported in the metadata. */
  secondsPerStage?: Partial<Record<Stage, number>>;
  userMetadata?: Record<string, unknown>;
  /** Stops the training (a job's ceiling): no new stage or task starts, and tasks running in workers are cut off. */
  cancel?: AbortSignal;
}

export interface TrainingSummary {
  trainingId: string;
  labels: string[];
  labelNames: string[];
  images: number;
  /** Photos that could not be used, with the reason. */
  skipped: SkippedImage[];
  /** Labels left without a usable photo, dropped from the model. */
  droppedLabels: string[];
  warnings: string[];
  validationAccuracy: number | null;
  recognition: RecognitionMetadata;
  /** L-BFGS iterations of the exported head's fit. */
  headIterations: number;
  cachedImages: number;
  /** TensorFlow.js backend and worker threads used (the backend is unknown when every embedding came from the cache). */
  backend: string | null;
  workers: number;
  /** Seconds per stage; callers may add their own entries (e.g. `total`). */
  secondsPerStage: Record<string, number>;
  files: Record<(typeof MODEL_FILES)[number], string>;
}

/** Number of photos whose predictions are compared between the trained model and its reloaded files. */
const PROBE_PHOTOS = 3;

/** The training pipeline for photos already on disk: embeddings → head → verified Teachable Machine files. */
@Injectable()
export class TrainerService {
  constructor(
    private readonly config: AppConfig,
    private readonly baseModels: BaseModelService,
    private readonly embeddings: EmbeddingService,
    private readonly pool: TfPoolService,
    private readonly exporter: ExportService,
    private readonly banks: NegativeBankService,
  ) {}

  async train(request: TrainRequest, onProgress: ProgressListener = () => undefined): Promise<TrainingSummary> {
    const seconds: Partial<Record<Stage, number>> = { ...request.secondsPerStage };
    const { cancel } = request;
    const timed = async <T>(stage: Stage, work: () => Promise<T>): Promise<T> => {
      cancel?.throwIfAborted();
      const start = performance.now();
      onProgress(stage, 0);
      try {
        return await work();
      } finally {
        seconds[stage] = round((performance.now() - start) / 1000 + (seconds[stage] ?? 0));
        onProgress(stage, 1);
      }
    };

    const baseModel = await this.baseModels.get(request.baseModel);
    // The bank is read (or, at first use with this base model, built) while the shop's photos are embedded.
    const bankAvailability = this.banks.forBaseModel(baseModel, cancel);
    bankAvailability.catch(() => undefined); // rejects only when cancelled, which the embedding reports too
    const embedded = await timed('embedding', async () => {
      const shop = await this.embeddings.embed(
        request.dataset,
        baseModel,
        (done, total) => onProgress('embedding', done / total),
        cancel,
      );
      return { ...shop, bank: await bankAvailability };
    });
    const { set: shopSet, labels, dropped } = keepLabelsWithPhotos(request.dataset, embedded);
    const { negatives, leftOut } = embedded.bank.bank
      ? bankWithoutShopProducts(embedded.bank.bank, shopSet)
      : { negatives: null, leftOut: [] };
    const set = { ...shopSet, negatives: negatives ?? undefined };
    const recipe = DEFAULT_RECIPE;
    const unknownShare = request.unknownShare ?? this.config.RECOGNITION_UNKNOWN_SHARE;
    // The exported head trains on every photo; the cross-validation folds (heads trained without some products and
    // photos) choose its gate and measure it. All run at once, as many as there are workers.
    const trained = await timed('training', () => {
      const trainings = 1 + GATE_FOLDS;
      const done = new Array<number>(trainings).fill(0);
      let next = 0;
      const train = (data: TrainingSet, r: HeadRecipe, scanRows?: Int32Array) => {
        const index = next++;
        return this.pool.trainHead(
          { data, recipe: r, scanRows },
          (fraction) => {
            done[index] = fraction;
            onProgress('training', done.reduce((a, b) => a + b, 0) / trainings);
          },
          cancel,
        );
      };
      const options = gateOptions(
        medianPhotosPerProduct(shopSet),
        this.config.RECOGNITION_MAX_FALSE_ACCEPT,
        unknownShare,
      );
      return trainGatedHead(set, recipe, { count: GATE_FOLDS, seed: GATE_SEED }, options, train);
    });
    const productLabels = labels.map((l) => ({ id: l.id, name: l.name }));
    const recognition = recognitionMetadata(trained.gate, trained.crossValidation, productLabels, {
      negatives,
      bankClassesLeftOut: leftOut,
      advice: photoAdvice(shopSet, productLabels),
      targetFalseAccept: this.config.RECOGNITION_MAX_FALSE_ACCEPT,
      unknownShare,
    });
    const inputRange = request.inputRange ?? this.config.MODEL_INPUT_RANGE;

    const trainingId = randomUUID();
    const trainedAt = new Date();
    const files = await timed('exporting', async () => {
      const staged = await this.exporter.stage(request.outDir);
      try {
        const probes = await Promise.all(embedded.images.slice(0, PROBE_PHOTOS).map((i) => fs.readFile(i.path)));
        const exported = await this.pool.exportModel(
          { modelJsonPath: baseModel.modelJsonPath, head: trained.head, dir: staged.dir, probes, inputRange },
          cancel,
        );
        return await this.exporter.publish(staged, {
          trainingId,
          trainedAt,
          modelName: request.modelName,
          labels: labels.map((l) => l.id),
          labelNames: labels.map((l) => l.name),
          imageCount: embedded.images.length,
          tfjsVersion: exported.tfjsVersion,
          metrics: metricsFor(trained.crossValidation, trained.report.iterations, labels, seconds),
          recognition,
          inputRange,
          baseModel: { url: baseModel.source, sha256: baseModel.sha256 },
          recipe: { ...recipe, views: 'centre + one crop per photo', bankViews: 'centre' },
          userMetadata: request.userMetadata,
        });
      } catch (err) {
        await this.exporter.discard(staged);
        throw err;
      }
    });

    return {
      trainingId,
      labels: labels.map((l) => l.id),
      labelNames: labels.map((l) => l.name),
      images: embedded.images.length,
      skipped: [...request.dataset.skipped, ...embedded.skipped],
      droppedLabels: dropped,
      warnings: [
        ...request.dataset.warnings,
        ...(embedded.bank.unavailable ? [`trained without the negative bank: ${embedded.bank.unavailable}`] : []),
        ...recognition.lookAlikes.map((l) => l.advice),
        ...recognition.advice,
      ],
      validationAccuracy: closedSetAccuracy(trained.crossValidation),
      recognition,
      headIterations: trained.report.iterations,
      cachedImages: embedded.cachedImages,
      backend: this.pool.backend ?? null,
      workers: this.pool.size,
      secondsPerStage: seconds as Record<string, number>,
      files,
    };
  }
}

/**
 * Drops labels that have no usable photo (reporting them by name) and renumbers the rest, keeping their order.
 * Fewer than two labels cannot make a classifier.
 */
function keepLabelsWithPhotos(dataset: Dataset, embedded: EmbeddedDataset) {
  const counts = new Array<number>(dataset.labels.length).fill(0);
  for (const image of embedded.images) counts[image.label]++;
  const newIndex = new Map<number, number>();
  const labels = dataset.labels.filter((_, i) => counts[i] > 0);
  dataset.labels.forEach((_, i) => counts[i] > 0 && newIndex.set(i, newIndex.size));
  const dropped = dataset.labels
    .filter((_, i) => counts[i] === 0)
    .map((l) => (l.name === l.id ? l.id : `${l.id} (${l.name})`));
  if (labels.length < 2) {
    throw new DatasetError(
      `need usable photos of at least 2 labels to train, found ${labels.length}` +
        (dropped.length ? `; without a usable photo: ${listed(dropped)}` : ''),
    );
  }
  const set = { ...embedded.set, labels: embedded.set.labels.map((l) => newIndex.get(l)!), classCount: labels.length };
  return { set, labels, dropped };
}

/** Closed-set accuracy of the folds on their held-out photos (among the products each fold knew). */
function closedSetAccuracy(cv: CrossValidation): number | null {
  return cv.known.length ? share(cv.known.filter((s) => s.correct).length, cv.known.length) : null;
}

function metricsFor(
  cv: CrossValidation,
  headIterations: number,
  labels: ProductLabel[],
  seconds: Partial<Record<Stage, number>>,
): ModelMetrics {
  const confusion = labels.map(() => new Array<number>(labels.length).fill(0));
  cv.perClass.forEach((c, i) => (confusion[i][i] = c.correct));
  for (const { actual, predicted } of cv.confusions) confusion[actual][predicted]++;
  return {
    validationAccuracy: closedSetAccuracy(cv),
    validationImages: cv.known.length,
    perClassAccuracy: Object.fromEntries(
      labels.map((l, i) => [l.id, cv.perClass[i].scans ? share(cv.perClass[i].correct, cv.perClass[i].scans) : null]),
    ),
    confusionMatrix: confusion,
    headIterations,
    secondsPerStage: seconds as Record<string, number>,
  };
}

function recognitionMetadata(
  gate: GateChoice,
  cv: CrossValidation,
  labels: ProductLabel[],
  extra: {
    negatives: NegativeSet | null;
    bankClassesLeftOut: string[];
    advice: string[];
    targetFalseAccept: number;
    unknownShare: number;
  },
): RecognitionMetadata {
  return {
    threshold: CLIENT_THRESHOLD,
    logitScale: round4(gate.scale),
    targetFalseAccept: extra.targetFalseAccept,
    unknownShare: extra.unknownShare,
    estimatedCorrectAccept: rounded(gate.estimatedCorrectAccept),
    estimatedFalseAccept: rounded(gate.estimatedFalseAccept),
    method:
      `logit scale chosen by ${GATE_FOLDS}-fold cross-validation (a quarter of the products as impostors, one ` +
      `photo of every other product as a scan per fold) for at least a quarter of unknown scans, then shifted for ` +
      `the stated unknown share by factors measured on development grocery shops; linear head` +
      (!extra.negatives
        ? '; no negative bank: it could not be had for this base model yet (the service log says why)'
        : extra.negatives.photos.length
          ? '; head trained against a negative bank (outlier exposure)'
          : "; the negative bank was left out whole (each of its products looks like one of the shop's)"),
    crossValidation: {
      folds: GATE_FOLDS,
      knownScans: gate.knownScans,
      unknownScans: gate.unknownScans,
      correctAccept: rounded(gate.crossValidatedCorrectAccept),
      falseAccept: rounded(gate.crossValidatedFalseAccept),
    },
    negativeBank: extra.negatives
      ? {
          photos: extra.negatives.photos.length,
          classesLeftOut: extra.bankClassesLeftOut,
        }
      : null,
    lookAlikes: lookAlikes(cv.confusions, labels),
    advice: extra.advice,
  };
}

function rounded(value: number | null): number | null {
  return value === null ? null : share(value, 1);
}

function round4(value: number): number {
  return Math.round(value * 10000) / 10000;
}

/** Up to 20 names, then how many more. */
function listed(names: string[]): string {
  return names.length <= 20 ? names.join(', ') : `${names.slice(0, 20).join(', ')} and ${names.length - 20} more`;
}

function share(part: number, whole: number): number {
  return Math.round((part / whole) * 1000) / 1000;
}

/** Seconds since `start` (a performance.now() reading), to the hundredth, as stage timings are reported. */
export function secondsSince(start: number): number {
  return round((performance.now() - start) / 1000);
}

function round(value: number): number {
  return Math.round(value * 100) / 100;
}
