import { randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { Injectable } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import { DatasetError, type Dataset, type SkippedImage } from '../dataset/dataset.types';
import { ExportService } from '../export/export.service';
import type { InputRange, MODEL_FILES, ModelMetrics, WebAppMetrics } from '../export/teachable-machine-format';
import { BaseModelService } from './base-model.service';
import { EmbeddingService, type EmbeddedDataset } from './embedding.service';
import { headProbabilities, type HeadTrainingReport, type TrainingSet } from './ml/head';
import type { BaseModelFiles } from './ml/base-model';
import { DEFAULT_RECIPE } from './recipe';
import { TfPoolService } from './tf-pool.provider';

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
  /** Overrides TRAINING_EPOCHS. */
  epochs?: number;
  /** Overrides MODEL_INPUT_RANGE. */
  inputRange?: InputRange;
  /** Seconds already spent on earlier stages (e.g. downloading), reported in the metadata. */
  secondsPerStage?: Partial<Record<Stage, number>>;
  userMetadata?: Record<string, unknown>;
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
  epochsRun: number;
  cachedImages: number;
  /** TensorFlow.js backend and worker threads used (the backend is unknown when every embedding came from the cache). */
  backend: string | null;
  workers: number;
  /** Seconds per stage; callers may add their own entries (e.g. `total`). */
  secondsPerStage: Record<string, number>;
  files: Record<(typeof MODEL_FILES)[number], string>;
}

/** Per-class share of photos held out by the validation twin (at least one photo per class stays in training). */
const VALIDATION_FRACTION = 0.15;

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
  ) {}

  async train(request: TrainRequest, onProgress: ProgressListener = () => undefined): Promise<TrainingSummary> {
    const seconds: Partial<Record<Stage, number>> = { ...request.secondsPerStage };
    const timed = async <T>(stage: Stage, work: () => Promise<T>): Promise<T> => {
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
    const embedded = await timed('embedding', () =>
      this.embeddings.embed(request.dataset, baseModel, (done, total) => onProgress('embedding', done / total)),
    );
    const { set, labels, dropped } = keepLabelsWithPhotos(request.dataset, embedded);
    const recipe = { ...DEFAULT_RECIPE, epochs: request.epochs ?? this.config.TRAINING_EPOCHS };
    // The exported head trains on every photo; a twin trained the same way without a held-out share measures how
    // well such a head recognises photos it has not seen. Both run at once, on two workers.
    const [report, validation, webApp] = await timed('training', async () => {
      const [report, validation] = await Promise.all([
        this.pool.trainHead({ data: set, recipe }, (epoch, total) => onProgress('training', epoch / total)),
        this.pool.trainHead({ data: set, recipe: { ...recipe, validationFraction: VALIDATION_FRACTION } }),
      ]);
      return [report, validation, await this.webAppMetrics(validation, embedded, set, baseModel)] as const;
    });
    const inputRange = request.inputRange ?? this.config.MODEL_INPUT_RANGE;

    const trainingId = randomUUID();
    const trainedAt = new Date();
    const files = await timed('exporting', async () => {
      const staged = await this.exporter.stage(request.outDir);
      try {
        const probes = await Promise.all(embedded.images.slice(0, PROBE_PHOTOS).map((i) => fs.readFile(i.path)));
        const exported = await this.pool.exportModel({
          modelJsonPath: baseModel.modelJsonPath,
          head: report.weights,
          dir: staged.dir,
          probes,
          inputRange,
        });
        return await this.exporter.publish(staged, {
          trainingId,
          trainedAt,
          modelName: request.modelName,
          labels: labels.map((l) => l.id),
          labelNames: labels.map((l) => l.name),
          imageCount: embedded.images.length,
          tfjsVersion: exported.tfjsVersion,
          metrics: metricsFor(
            validation,
            report.epochsRun,
            labels.map((l) => l.id),
            seconds,
            webApp,
          ),
          inputRange,
          baseModel: { url: baseModel.source, sha256: baseModel.sha256 },
          recipe: { ...recipe, views: 'centre + one crop per photo' },
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
      warnings: request.dataset.warnings,
      validationAccuracy: validation.validationAccuracy,
      epochsRun: report.epochsRun,
      cachedImages: embedded.cachedImages,
      backend: this.pool.backend ?? null,
      workers: this.pool.size,
      secondsPerStage: seconds as Record<string, number>,
      files,
    };
  }

  /**
   * How the shop's web app would do on the validation twin's held-out photos: the whole photo squashed to 224
   * (its preprocessing), the twin's head, a prediction accepted at WEB_APP_THRESHOLD.
   */
  private async webAppMetrics(
    validation: HeadTrainingReport,
    embedded: EmbeddedDataset,
    set: TrainingSet,
    baseModel: BaseModelFiles,
  ): Promise<WebAppMetrics | null> {
    if (!validation.heldOutPhotos.length) return null;
    const photos = validation.heldOutPhotos;
    const views = await this.embeddings.embedWebAppViews(
      photos.map((p) => embedded.images[p]),
      baseModel,
    );
    let accepted = 0;
    let acceptedCorrect = 0;
    let correct = 0;
    let counted = 0;
    views.forEach((embedding, i) => {
      if (!embedding) return;
      const probabilities = headProbabilities(validation.weights, embedding);
      const top = probabilities.indexOf(Math.max(...probabilities));
      const label = set.labels[set.photos.indexOf(photos[i])];
      counted++;
      if (top === label) correct++;
      if (probabilities[top] >= WEB_APP_THRESHOLD) {
        accepted++;
        if (top === label) acceptedCorrect++;
      }
    });
    if (!counted) return null;
    return {
      threshold: WEB_APP_THRESHOLD,
      photos: counted,
      acceptedShare: share(accepted, counted),
      acceptedCorrectShare: accepted ? share(acceptedCorrect, accepted) : null,
      top1: share(correct, counted),
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

function metricsFor(
  validation: HeadTrainingReport,
  epochsRun: number,
  labels: string[],
  seconds: Partial<Record<Stage, number>>,
  webApp: WebAppMetrics | null,
): ModelMetrics {
  return {
    validationAccuracy: validation.validationAccuracy,
    validationImages: validation.validationPhotos,
    perClassAccuracy: Object.fromEntries(labels.map((l, i) => [l, validation.perClassAccuracy[i] ?? null])),
    confusionMatrix: validation.confusion,
    epochsRun,
    secondsPerStage: seconds as Record<string, number>,
    webApp,
  };
}

/** The web app accepts a prediction only at this probability or above. */
export const WEB_APP_THRESHOLD = 0.9;

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
