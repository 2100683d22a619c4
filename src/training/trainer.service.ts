/** The training pipeline for photos on disk: embed, train the head and its gate (export/ publishes the result). */
import { Injectable } from '@nestjs/common';
import { secondsSince } from '../common/stage-timing';
import { AppConfig } from '../config/app-config';
import { DatasetError, type Dataset, type DatasetImage, type SkippedImage } from '../dataset/dataset.types';
import { photoFindings, type PhotoFinding, type ProductLabel } from './advice';
import { BaseModelService } from './base-model.service';
import { EmbeddingService, type EmbeddedDataset, type EmbeddedScan } from './embedding.service';
import {
  linearStart,
  type BaseModelFiles,
  type HeadRecipe,
  type LinearHeadRecipe,
  type LinearWeights,
  type NegativeSet,
  type TrainingSet,
} from './ml';
import { bankWithoutShopProducts } from './negative-bank/negative-bank';
import { NegativeBankService } from './negative-bank/negative-bank.service';
import { medianPhotosPerProduct, trainGatedHead, type GatedHead } from './recognition';
import {
  compareWithPrevious,
  measuredUnknownShare,
  scanGateOptions,
  type ConfirmedScan,
  type PreviousModel,
  type SincePrevious,
} from './till-scans';
import { DEFAULT_RECIPE, GATE_FOLDS, GATE_SEED, gateOptions } from './recipe';
import { MlWorkerPoolService } from './ml-worker-pool.service';

/** A job's stages in order; `negative-bank` only when the bank is built (at the first training with a base model). */
export const STAGES = ['downloading', 'negative-bank', 'embedding', 'training', 'exporting', 'uploading'] as const;
export type Stage = (typeof STAGES)[number];
/** `fraction` runs from 0 to 1 within the stage. */
export type ProgressListener = (stage: Stage, fraction: number) => void;

export interface TrainRequest {
  dataset: Dataset;
  /** Overrides BASE_MODEL_URL. */
  baseModel?: string;
  /** Overrides RECOGNITION_UNKNOWN_SHARE (the till's scans override both when some were confirmed as none). */
  unknownShare?: number;
  /**
   * The model the till has been running: the head's fit starts from its head (a retrain's answer is close to the
   * last one), and with scans taken since it was trained, both models' figures on them.
   */
  previousModel?: PreviousModel;
  /** Seconds already spent on earlier stages (e.g. downloading), reported in the metadata. */
  secondsPerStage?: Partial<Record<Stage, number>>;
  /** Stops the training (a job's ceiling): no new stage or task starts, and tasks running in workers are cut off. */
  cancel?: AbortSignal;
}

/** A trained model before it is published (export/export.service.ts): its gated head and what it was made from. */
export interface TrainingResult {
  /** The products the model names, in its output order. */
  labels: ProductLabel[];
  /** The shop's rows (without the negative bank), numbered by `labels` and `images`. */
  set: TrainingSet;
  /** The photos embedded. */
  images: DatasetImage[];
  /** Photos that could not be used, with the reason. */
  skipped: SkippedImage[];
  /** Labels left without a usable photo, dropped from the model. */
  droppedLabels: string[];
  /** The dataset's warnings and the negative bank's absence. */
  warnings: string[];
  /** The exported head with its gate, and the cross-validation that chose the gate. */
  gated: GatedHead;
  recipe: LinearHeadRecipe;
  /** The negative bank's photos the head trained against (null: the bank could not be had), and its products left out. */
  negatives: NegativeSet | null;
  bankClassesLeftOut: string[];
  /** Products with few photos, or photos that copy another. */
  photoFindings: PhotoFinding[];
  targetFalseAccept: number;
  /** The share of unknown scans the gate was chosen for, and where it comes from. */
  unknownShare: number;
  unknownShareSource: 'stated' | 'scans';
  /** The scans taken since the previous model, as it and this model name them (null: no such model or scan). */
  sincePrevious: SincePrevious | null;
  baseModel: BaseModelFiles;
  cachedImages: number;
  /** Views read from the embedding cache (the self-check's refusal depends on it). */
  cachedViews: number;
  secondsPerStage: Partial<Record<Stage, number>>;
}

/** The training pipeline for photos already on disk: embeddings → head and its gate. */
@Injectable()
export class TrainerService {
  constructor(
    private readonly config: AppConfig,
    private readonly baseModels: BaseModelService,
    private readonly embeddings: EmbeddingService,
    private readonly pool: MlWorkerPoolService,
    private readonly banks: NegativeBankService,
  ) {}

  async train(request: TrainRequest, onProgress: ProgressListener = () => undefined): Promise<TrainingResult> {
    const seconds: Partial<Record<Stage, number>> = { ...request.secondsPerStage };
    const { cancel } = request;
    const timed = async <T>(stage: Stage, work: () => Promise<T>): Promise<T> => {
      cancel?.throwIfAborted();
      const start = performance.now();
      onProgress(stage, 0);
      try {
        return await work();
      } finally {
        seconds[stage] = Number((secondsSince(start) + (seconds[stage] ?? 0)).toFixed(2));
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
    const { set: shopSet, labels, dropped, newIndex } = keepLabelsWithPhotos(request.dataset, embedded);
    const { negatives, leftOut } = bank.bank
      ? bankWithoutShopProducts(bank.bank, shopSet)
      : { negatives: null, leftOut: [] };
    const set = { ...shopSet, negatives: negatives ?? undefined };
    const recipe = DEFAULT_RECIPE;
    const scans = confirmedScans(embedded.scans, newIndex);
    const measuredShare = measuredUnknownShare(scans.kept);
    const unknownShare = measuredShare ?? request.unknownShare ?? this.config.RECOGNITION_UNKNOWN_SHARE;
    const maxFalseAccept = this.config.RECOGNITION_MAX_FALSE_ACCEPT;
    // The exported head trains on every photo (and scan); the cross-validation folds (heads trained without some
    // products and photos) and, with scans, two heads trained on half of them each choose its gate and measure it.
    // All run at once, as many as there are workers.
    const trained = await timed('training', () => {
      const trainings = 1 + GATE_FOLDS + (scans.kept.length ? 2 : 0);
      const done = new Array<number>(trainings).fill(0);
      let next = 0;
      const train = (data: TrainingSet, r: HeadRecipe, scanRows?: Int32Array, start?: LinearWeights) => {
        const index = next++;
        return this.pool.trainHead(
          { data, recipe: r, scanRows, start },
          (fraction) => {
            done[index] = fraction;
            onProgress('training', done.reduce((a, b) => a + b, 0) / trainings);
          },
          cancel,
        );
      };
      const options = scans.kept.length
        ? scanGateOptions(maxFalseAccept, unknownShare)
        : gateOptions(medianPhotosPerProduct(shopSet), maxFalseAccept, unknownShare);
      return trainGatedHead(
        set,
        recipe,
        { count: GATE_FOLDS, seed: GATE_SEED },
        options,
        train,
        scans.kept.length ? { store: embedded.store, scans: scans.kept } : undefined,
        // A retrain starts from the model the till has been running: the answer barely moves.
        request.previousModel
          ? (linearStart(
              request.previousModel.head,
              request.previousModel.labels,
              labels.map((l) => l.id),
            ) ?? undefined)
          : undefined,
      );
    });
    const productLabels = labels.map((l) => ({ id: l.id, name: l.name }));
    const { previousModel } = request;
    const sincePrevious =
      previousModel && trained.scanScores
        ? compareWithPrevious(
            previousModel,
            labels.map((l) => l.id),
            scans.kept,
            trained.scanScores,
            embedded.store,
            trained.gate.scale,
            unknownShare,
          )
        : null;
    return {
      labels: productLabels,
      set: shopSet,
      images: embedded.images,
      skipped: [...request.dataset.skipped, ...embedded.skipped],
      droppedLabels: dropped,
      warnings: [
        ...request.dataset.warnings,
        ...(bank.unavailable ? [`trained without the negative bank: ${bank.unavailable}`] : []),
        ...(embedded.cacheRefused
          ? [
              `the embedding cache (MODEL_CACHE_DIR) could not be written (${embedded.cacheRefused}): this ` +
                `training's embeddings were not kept, and the next training embeds its photos again`,
            ]
          : []),
        ...scans.warnings,
        ...(scans.kept.length && measuredShare === null
          ? [
              `no scan was confirmed as none of the products: the gate assumes that ${Math.round(unknownShare * 100)} % ` +
                `of the till's scans show things the shop does not sell (send the scans the cashier confirmed as ` +
                `none, and the share is measured)`,
            ]
          : []),
      ],
      gated: trained,
      recipe,
      negatives,
      bankClassesLeftOut: leftOut,
      photoFindings: photoFindings(shopSet, productLabels),
      targetFalseAccept: maxFalseAccept,
      unknownShare,
      unknownShareSource: measuredShare === null ? 'stated' : 'scans',
      sincePrevious,
      baseModel,
      cachedImages: embedded.cachedImages,
      cachedViews: embedded.cachedViews,
      secondsPerStage: seconds,
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
  return { set, labels, dropped, newIndex };
}

/** The embedded scans in the model's class numbering; scans of a product dropped for want of photos are left out. */
function confirmedScans(scans: EmbeddedScan[], newIndex: Map<number, number>) {
  const kept: ConfirmedScan[] = [];
  for (const { scan, rows } of scans) {
    const label = scan.label === null ? -1 : newIndex.get(scan.label);
    if (label !== undefined) kept.push({ rows, label, takenAt: scan.takenAt });
  }
  const leftOut = scans.length - kept.length;
  const warnings = leftOut ? [`${leftOut} scan(s) left out: their product has no usable photo`] : [];
  return { kept, warnings };
}

/** Up to 20 names, then how many more. */
function listed(names: string[]): string {
  return names.length <= 20 ? names.join(', ') : `${names.slice(0, 20).join(', ')} and ${names.length - 20} more`;
}
