/**
 * Publishing a trained model: its Teachable Machine files, its model card (metadata.json), its report, and the
 * self-check that the files compute what the head was trained on, written to a private staging folder and moved
 * into the output folder only when complete and verified.
 */
import { randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { Injectable } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import type { InputRange } from '../config/ml-choices';
import type { SkippedImage } from '../dataset/dataset.types';
import { thumbnailJpeg } from '../dataset/preprocess';
import { EmbeddingService } from '../training/embedding.service';
import { embeddingRow, type TrainingSet } from '../training/ml';
import { MlWorkerPoolService } from '../training/ml-worker-pool.service';
import { secondsSince } from '../common/stage-timing';
import type { ProgressListener, TrainingResult } from '../training/trainer.service';
import { closedSetAccuracy, modelCard, productFigures } from './model-card';
import type { ModelQuality } from './model-quality';
import { renderReport, REPORT_FILE, thumbnailMaxBytes, type ReportInput } from './report';
import { embeddingDisagreement, selfCheckRefusal } from './self-check';
import {
  METADATA_FILE,
  metadataFor,
  MODEL_FILE,
  MODEL_FILES,
  WEIGHTS_FILE,
  type MetadataInput,
  type RecognitionMetadata,
} from './teachable-machine-format';

export type PublishedFileName = (typeof MODEL_FILES)[number] | typeof REPORT_FILE;

/** A published file: where it was written, and its bytes (what the service uploads and keeps). */
export interface PublishedFile {
  path: string;
  bytes: Buffer;
}

export interface PublishRequest {
  trained: TrainingResult;
  /** Receives the four files; its other files are never touched. */
  outDir: string;
  /** The model's name in metadata.json (the output folder's, or the channel's). */
  modelName: string;
  /** Overrides MODEL_INPUT_RANGE. */
  inputRange?: InputRange;
  userMetadata?: Record<string, unknown>;
  /** A job's ceiling: the export's task in the worker threads is cut off. */
  cancel?: AbortSignal;
}

/** What was published, for the CLI's summary and the job's record. */
export interface PublishedModel {
  trainingId: string;
  labels: string[];
  labelNames: string[];
  /** Photos the model was trained on. */
  images: number;
  /** Photos that could not be used, with the reason. */
  skipped: SkippedImage[];
  /** Labels left without a usable photo, dropped from the model. */
  droppedLabels: string[];
  /** The dataset's and the bank's warnings, then the look-alikes and the photo advice. */
  warnings: string[];
  validationAccuracy: number | null;
  recognition: RecognitionMetadata;
  /** What the model will do, in words (metadata.json's `quality`). */
  quality: ModelQuality;
  /** L-BFGS iterations of the exported head's fit. */
  headIterations: number;
  cachedImages: number;
  /** The TensorFlow.js backend and worker threads used (the backend is unknown when every embedding came from the cache). */
  backend: string | null;
  workers: number;
  /** Seconds per stage, exporting included; callers may add their own entries (e.g. `total`). */
  secondsPerStage: Record<string, number>;
  files: Record<PublishedFileName, PublishedFile>;
}

/** Number of photos whose embeddings and predictions the exported files must reproduce. */
const PROBE_PHOTOS = 3;

@Injectable()
export class ExportService {
  constructor(
    private readonly config: AppConfig,
    private readonly pool: MlWorkerPoolService,
    private readonly embeddings: EmbeddingService,
  ) {}

  /** The `exporting` stage: files, self-check, model card and report, then moved into `outDir` together. */
  async publish(request: PublishRequest, onProgress: ProgressListener = () => undefined): Promise<PublishedModel> {
    const { trained, cancel } = request;
    cancel?.throwIfAborted();
    const started = performance.now();
    onProgress('exporting', 0);
    await fs.mkdir(request.outDir, { recursive: true });
    const staging = path.join(request.outDir, `.ml-trainer-staging-${randomUUID()}`);
    await fs.mkdir(staging);
    try {
      const probes = await Promise.all(trained.images.slice(0, PROBE_PHOTOS).map((i) => fs.readFile(i.path)));
      const inputRange = request.inputRange ?? this.config.MODEL_INPUT_RANGE;
      const exported = await this.pool.exportModel(
        {
          modelJsonPath: trained.baseModel.modelJsonPath,
          head: trained.gated.head,
          files: { modelJson: path.join(staging, MODEL_FILE), weights: WEIGHTS_FILE },
          probes,
          inputRange,
        },
        cancel,
      );
      await this.checkOwnEmbeddings(trained, exported.probeEmbeddings);
      const metadata = modelCard(trained, {
        trainingId: randomUUID(),
        trainedAt: new Date(),
        modelName: request.modelName,
        inputRange,
        tfjsVersion: exported.tfjsVersion,
        // Exporting so far: the model card and the report are written within the stage they describe.
        secondsPerStage: { ...trained.secondsPerStage, exporting: secondsSince(started) },
        userMetadata: request.userMetadata,
      });
      // The worker wrote the model's two files; the model card and the report are written from memory here.
      const written: Partial<Record<PublishedFileName, Buffer>> = {
        [METADATA_FILE]: Buffer.from(JSON.stringify(metadataFor(metadata))),
        [REPORT_FILE]: Buffer.from(renderReport(await reportInput(metadata, trained))),
      };
      for (const [file, bytes] of Object.entries(written)) await fs.writeFile(path.join(staging, file), bytes);
      const files = {} as Record<PublishedFileName, PublishedFile>;
      for (const file of [...MODEL_FILES, REPORT_FILE] as const) {
        const bytes = written[file] ?? (await fs.readFile(path.join(staging, file)));
        const target = path.join(request.outDir, file);
        await fs.rename(path.join(staging, file), target);
        files[file] = { path: target, bytes };
      }
      onProgress('exporting', 1);
      return this.summary(trained, metadata, files, secondsSince(started));
    } finally {
      await fs.rm(staging, { recursive: true, force: true });
    }
  }

  private summary(
    trained: TrainingResult,
    metadata: MetadataInput,
    files: Record<PublishedFileName, PublishedFile>,
    exporting: number,
  ): PublishedModel {
    const { recognition } = metadata;
    return {
      trainingId: metadata.trainingId,
      labels: metadata.labels,
      labelNames: metadata.labelNames,
      images: trained.images.length,
      skipped: trained.skipped,
      droppedLabels: trained.droppedLabels,
      warnings: [...trained.warnings, ...recognition.lookAlikes.map((l) => l.advice), ...recognition.advice],
      validationAccuracy: closedSetAccuracy(trained.gated.crossValidation),
      recognition,
      quality: metadata.quality,
      headIterations: trained.gated.report.iterations,
      cachedImages: trained.cachedImages,
      backend: this.pool.backend ?? null,
      workers: this.pool.size,
      secondsPerStage: { ...trained.secondsPerStage, exporting } as Record<string, number>,
      files,
    };
  }

  /**
   * Refuses to publish a model that computes, for its first photos, other embeddings than the ones its head and
   * figures were made from (self-check.ts). When some came from the cache, the training's cached embeddings are
   * removed, so that another attempt embeds them anew.
   */
  private async checkOwnEmbeddings(trained: TrainingResult, computed: (Float32Array | null)[]): Promise<void> {
    const { set, images } = trained;
    const fitted = computed.map((_, photo) => embeddingRow(set, plainRowOf(set, photo)));
    const disagreement = embeddingDisagreement(fitted, computed);
    if (!disagreement) return;
    if (trained.cachedViews) await this.embeddings.forget(images, trained.baseModel);
    throw selfCheckRefusal(disagreement, images[disagreement.photo].name, {
      cachedViews: trained.cachedViews,
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
 * What report.html shows beyond the metadata: per product its figures, photos left out and a thumbnail; per
 * look-alike pair a photo that was taken for the other product.
 */
async function reportInput(metadata: MetadataInput, trained: TrainingResult): Promise<ReportInput> {
  const { set, images, skipped } = trained;
  const cv = trained.gated.crossValidation;
  const figures = productFigures(trained);
  const firstPhoto = new Map<number, number>();
  set.plain.forEach((plain, row) => {
    if (plain && !firstPhoto.has(set.labels[row])) firstPhoto.set(set.labels[row], set.photos[row]);
  });
  const maxBytes = thumbnailMaxBytes(metadata.labels.length, metadata.recognition.lookAlikes.length);
  // A thumbnail that cannot be made leaves a blank square: the report never fails a training.
  const thumbnail = (photo: number | undefined) =>
    photo === undefined
      ? Promise.resolve(null)
      : fs
          .readFile(images[photo].path)
          .then((bytes) => thumbnailJpeg(bytes, maxBytes))
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
    warnings: trained.warnings,
  };
}
