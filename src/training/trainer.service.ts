/** The training pipeline for photos on disk: embed, train the head and its gate, export and verify. */
import { randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { Injectable } from '@nestjs/common';
import { isHttpUrl } from '../common/egress';
import { AppConfig } from '../config/app-config';
import { DatasetError, type Dataset, type DatasetImage, type SkippedImage } from '../dataset/dataset.types';
import { ExportService } from '../export/export.service';
import { describeQuality, type ModelQuality, type ProductFigures } from '../export/model-quality';
import { renderReport, type ReportInput } from '../export/report';
import type { InputRange } from '../config/ml-choices';
import {
  confusionOf,
  type MetadataInput,
  type ModelMetrics,
  type RecognitionMetadata,
} from '../export/teachable-machine-format';
import type { PublishedFiles } from '../export/export.service';
import { thumbnailJpeg } from '../dataset/preprocess';
import { lookAlikes, photoAdvice, type ProductLabel } from './advice';
import { BaseModelService } from './base-model.service';
import { EmbeddingService, type EmbeddedDataset } from './embedding.service';
import {
  CLIENT_THRESHOLD,
  embeddingRow,
  type BaseModelFiles,
  type GateChoice,
  type HeadRecipe,
  type NegativeSet,
  type TrainingSet,
} from './ml';
import { bankWithoutShopProducts } from './negative-bank/negative-bank';
import { NegativeBankService } from './negative-bank/negative-bank.service';
import { embeddingDisagreement, selfCheckRefusal } from './self-check';
import {
  medianPhotosPerProduct,
  productFigures,
  trainGatedHead,
  type CrossValidation,
  type GatedHead,
} from './recognition';
import { DEFAULT_RECIPE, describeRecipe, GATE_FOLDS, GATE_SEED, gateOptions } from './recipe';
import { MlWorkerPoolService } from './ml-worker-pool.service';

/** A job's stages in order; `negative-bank` only when the bank is built (at the first training with a base model). */
export const STAGES = ['downloading', 'negative-bank', 'embedding', 'training', 'exporting', 'uploading'] as const;
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
  /** What the model will do, in words (as metadata.json's `quality`). */
  quality: ModelQuality;
  /** L-BFGS iterations of the exported head's fit. */
  headIterations: number;
  cachedImages: number;
  /** TensorFlow.js backend and worker threads used (the backend is unknown when every embedding came from the cache). */
  backend: string | null;
  workers: number;
  /** Seconds per stage; callers may add their own entries (e.g. `total`). */
  secondsPerStage: Record<string, number>;
  /** The three model files and report.html, where they were written. */
  files: PublishedFiles;
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
    private readonly pool: MlWorkerPoolService,
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
    // Read from the cache, or built at the first training with this base model: its own stage then.
    let bankBuild: number | undefined;
    const bank = await this.banks.forBaseModel(baseModel, cancel, (fraction) => {
      if (bankBuild === undefined) bankBuild = performance.now();
      onProgress('negative-bank', fraction);
    });
    if (bankBuild !== undefined) {
      seconds['negative-bank'] = secondsSince(bankBuild);
      onProgress('negative-bank', 1);
    }
    const embedded = await timed('embedding', () =>
      this.embeddings.embed(request.dataset, baseModel, (done, total) => onProgress('embedding', done / total), cancel),
    );
    const { set: shopSet, labels, dropped } = keepLabelsWithPhotos(request.dataset, embedded);
    const { negatives, leftOut } = bank.bank
      ? bankWithoutShopProducts(bank.bank, shopSet)
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
    const products = productFigures(
      shopSet,
      trained.crossValidation,
      trained.gate,
      labels.map((l) => l.name),
    );
    const quality = describeQuality({
      products,
      photos: embedded.images.length,
      till:
        recognition.estimatedCorrectAccept === null || recognition.estimatedFalseAccept === null
          ? null
          : {
              named: recognition.estimatedCorrectAccept,
              wrong: recognition.estimatedFalseAccept,
              unknownShare,
            },
      advice: [...recognition.lookAlikes.map((l) => l.advice), ...recognition.advice],
    });
    const inputRange = request.inputRange ?? this.config.MODEL_INPUT_RANGE;

    const trainingId = randomUUID();
    const trainedAt = new Date();
    const files = await timed('exporting', async () => {
      const exportStarted = performance.now();
      const staged = await this.exporter.stage(request.outDir);
      try {
        const probes = await Promise.all(embedded.images.slice(0, PROBE_PHOTOS).map((i) => fs.readFile(i.path)));
        const exported = await this.pool.exportModel(
          { modelJsonPath: baseModel.modelJsonPath, head: trained.head, dir: staged.dir, probes, inputRange },
          cancel,
        );
        await this.checkOwnEmbeddings(shopSet, embedded, exported.probeEmbeddings, baseModel);
        const metadata: MetadataInput = {
          trainingId,
          trainedAt,
          modelName: request.modelName,
          labels: labels.map((l) => l.id),
          labelNames: labels.map((l) => l.name),
          imageCount: embedded.images.length,
          tfjsVersion: exported.tfjsVersion,
          // Exporting so far: the metadata and the report are written within the stage they describe.
          metrics: metricsFor(trained.crossValidation, trained.report.iterations, labels, {
            ...seconds,
            exporting: secondsSince(exportStarted),
          }),
          recognition,
          quality,
          inputRange,
          // A local path would show where the service keeps its files: only a URL goes into the model's metadata.
          baseModel: {
            url: isHttpUrl(baseModel.source) ? baseModel.source : null,
            sha256: baseModel.sha256,
          },
          recipe: {
            ...recipe,
            views: 'centre + one crop per photo',
            bankViews: 'centre',
            description: describeRecipe(recipe, labels.length, trained.report.iterations),
          },
          userMetadata: request.userMetadata,
        };
        const report = renderReport(
          await reportInput(metadata, trained, products, shopSet, embedded.images, [
            ...request.dataset.skipped,
            ...embedded.skipped,
          ]),
        );
        return await this.exporter.publish(staged, metadata, report);
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
        ...(bank.unavailable ? [`trained without the negative bank: ${bank.unavailable}`] : []),
        ...recognition.lookAlikes.map((l) => l.advice),
        ...recognition.advice,
      ],
      validationAccuracy: closedSetAccuracy(trained.crossValidation),
      recognition,
      quality,
      headIterations: trained.report.iterations,
      cachedImages: embedded.cachedImages,
      backend: this.pool.backend ?? null,
      workers: this.pool.size,
      secondsPerStage: seconds as Record<string, number>,
      files,
    };
  }

  /**
   * Refuses to publish a model that computes, for its first photos, other embeddings than the ones its head and figures
   * were made from (self-check.ts). When some came from the cache, this job's cached embeddings are removed, so that
   * another attempt embeds them anew.
   */
  private async checkOwnEmbeddings(
    set: TrainingSet,
    embedded: EmbeddedDataset,
    computed: (Float32Array | null)[],
    baseModel: BaseModelFiles,
  ): Promise<void> {
    const fitted = computed.map((_, photo) => embeddingRow(set, plainRowOf(set, photo)));
    const disagreement = embeddingDisagreement(fitted, computed);
    if (!disagreement) return;
    if (embedded.cachedViews) await this.embeddings.forget(embedded.images, baseModel);
    throw selfCheckRefusal(disagreement, embedded.images[disagreement.photo].name, {
      cachedViews: embedded.cachedViews,
      views: set.labels.length,
    });
  }
}

/** The row of a photo's plain (centre) view. */
function plainRowOf(set: TrainingSet, photo: number): number {
  for (let row = 0; row < set.photos.length; row++) if (set.photos[row] === photo && set.plain[row]) return row;
  throw new Error(`photo ${photo} has no plain view in the training set`);
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

/**
 * What report.html shows beyond the metadata: per product its figures, photos left out and a thumbnail; per
 * look-alike pair a photo that was taken for the other product.
 */
async function reportInput(
  metadata: MetadataInput,
  trained: GatedHead,
  figures: ProductFigures[],
  set: TrainingSet,
  images: DatasetImage[],
  skipped: SkippedImage[],
): Promise<ReportInput> {
  const { crossValidation: cv } = trained;
  const firstPhoto = new Map<number, number>();
  set.plain.forEach((plain, row) => {
    if (plain && !firstPhoto.has(set.labels[row])) firstPhoto.set(set.labels[row], set.photos[row]);
  });
  // A thumbnail that cannot be made leaves a blank square: the report never fails a training.
  const thumbnail = (photo: number | undefined) =>
    photo === undefined
      ? Promise.resolve(null)
      : fs
          .readFile(images[photo].path)
          .then((bytes) => thumbnailJpeg(bytes))
          .catch(() => null);
  const thumbnails = await Promise.all(metadata.labels.map((_, i) => thumbnail(firstPhoto.get(i))));
  const products = metadata.labels.map((id, i) => ({
    ...figures[i],
    id,
    thumbnail: thumbnails[i],
    photosSkipped: skipped.filter((s) => s.label === id).length,
  }));
  const lookAlikes = await Promise.all(
    metadata.recognition.lookAlikes.map(async (pair) => {
      const [a, b] = pair.products.map((id) => metadata.labels.indexOf(id));
      const confusion = cv.confusions.find(
        (c) => (c.actual === a && c.predicted === b) || (c.actual === b && c.predicted === a),
      );
      const confused = confusion && (await thumbnail(confusion.photo));
      return {
        names: pair.names,
        thumbnails: [thumbnails[a], thumbnails[b]] as [Uint8Array | null, Uint8Array | null],
        confusedPhoto:
          confusion && confused
            ? {
                thumbnail: confused,
                shows: metadata.labelNames[confusion.actual],
                namedAs: metadata.labelNames[confusion.predicted],
              }
            : null,
        advice: pair.advice,
      };
    }),
  );
  const names = new Map(metadata.labels.map((id, i) => [id, metadata.labelNames[i]]));
  return {
    metadata,
    products,
    lookAlikes,
    skipped: skipped.map((s) => ({ product: names.get(s.label) ?? s.label, photo: s.name, reason: s.reason })),
  };
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
