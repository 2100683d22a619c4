/** Embeds a dataset's photos (every view), reading and filling the embedding cache. */
import { promises as fs } from 'node:fs';
import { Injectable } from '@nestjs/common';
import { FinalError } from '../common/errors';
import { AppConfig } from '../config/app-config';
import { EmbeddingCache } from './embedding-cache';
import {
  SCANS_OF_NONE,
  type Dataset,
  type DatasetImage,
  type DatasetScan,
  type SkippedImage,
} from '../dataset/dataset.types';
import { MAX_IMAGE_BYTES, type View } from '../dataset/preprocess';
import { sharedFloat32Array, type BaseModelFiles, type TrainingSet } from './ml';
import { sha256Hex, viewsForPhoto } from './recipe';
import { EmbeddingEngineService } from './embedding-engine.service';
import { MlWorkerPoolService } from './ml-worker-pool.service';
import { EMBEDDING_SIZE } from '../config/model-shape';

/** Rows (views) per photo: the recipe gives every photo the same number. */
const ROWS_PER_PHOTO = viewsForPhoto('0').length;
/**
 * Photos sent to a worker in one task… Measured at k = 10 (810 photos, ONNX Runtime, when it ran a task's views as one
 * batch): 4, 8, 16 and 32 embed at the same speed within noise (119–124 photos/s), and peak RSS was 620, 720, 910 and
 * 1230 MB.
 */
const MAX_PHOTOS_PER_TASK = 4;
/** …and fewer for small datasets, so progress advances in at least 20 steps (see job-progress.ts). */
const PROGRESS_STEPS = 20;
/** Photos read and looked up in the embedding cache at once. */
const LOOKUP_AHEAD = 32;

export interface EmbeddedDataset {
  set: TrainingSet;
  /** The photos that made it, in row order (each has `viewsPerPhoto` rows). */
  images: DatasetImage[];
  skipped: SkippedImage[];
  /**
   * The store `set` is the first rows of, with the till's confirmed scans after the photos (each scan's rows: its
   * views, as a photo's).
   */
  store: Float32Array;
  /** The scans that could be embedded, with their rows in `store`. */
  scans: EmbeddedScan[];
  /** Photos whose embeddings all came from the cache. */
  cachedImages: number;
  /** Views (rows) that came from the cache. */
  cachedViews: number;
  /** Forward passes actually run. */
  embeddedViews: number;
  /** Why the embedding cache could not keep this dataset's embeddings (its disk full, say); undefined: it kept them. */
  cacheRefused?: string;
}

export interface EmbeddedScan {
  scan: DatasetScan;
  /** Rows of the store, the centre view first. */
  rows: number[];
}

export type EmbeddingProgress = (done: number, total: number) => void;

/**
 * Turns a dataset's photos into embeddings, streaming: at most a few tasks of photos are in memory at once, and only
 * views missing from the on-disk cache go through the base model.
 */
@Injectable()
export class EmbeddingService {
  constructor(
    private readonly pool: MlWorkerPoolService,
    private readonly engines: EmbeddingEngineService,
    private readonly config: AppConfig,
  ) {}

  /** `cancel` stops it: no new batch starts, and batches running in workers are cut off. */
  async embed(
    dataset: Dataset,
    baseModel: BaseModelFiles,
    onProgress?: EmbeddingProgress,
    cancel?: AbortSignal,
  ): Promise<EmbeddedDataset> {
    const scans = dataset.scans ?? [];
    const run = await this.embedImages([...dataset.images, ...scans], baseModel, onProgress, cancel);
    const embeddedScans: EmbeddedScan[] = [];
    const scanSkipped: SkippedImage[] = [];
    scans.forEach((scan, i) => {
      const index = dataset.images.length + i;
      const failure = run.failures.get(index);
      if (failure === undefined)
        embeddedScans.push({
          scan,
          rows: Array.from({ length: ROWS_PER_PHOTO }, (_, v) => index * ROWS_PER_PHOTO + v),
        });
      else {
        run.failures.delete(index);
        const label = scan.label === null ? SCANS_OF_NONE : dataset.labels[scan.label].id;
        scanSkipped.push({ label, name: scan.name, reason: failure });
      }
    });
    const photos = trainingSetOf(dataset, run.embeddings, run.failures);
    return {
      ...photos,
      skipped: [...photos.skipped, ...scanSkipped],
      store: run.embeddings,
      scans: embeddedScans,
      cachedImages: run.cachedImages,
      cachedViews: run.cachedViews,
      embeddedViews: run.embeddedViews,
      cacheRefused: run.cacheRefused,
    };
  }

  /** Removes the cached embeddings of these photos (every view), so that the next training embeds them anew. */
  async forget(images: DatasetImage[], baseModel: BaseModelFiles): Promise<void> {
    const { cache } = await this.cacheFor(baseModel);
    for (const image of images) {
      const bytes = await readPhoto(image.path);
      if (typeof bytes !== 'string') await Promise.all(photoViews(cache, bytes).map((v) => cache.remove(v.key)));
    }
  }

  /**
   * The engine and the cache of what it makes. Cached embeddings are keyed by what made them (the engine and its
   * graph): a graph that changes, or another engine, never reads embeddings another one made.
   */
  private async cacheFor(baseModel: BaseModelFiles) {
    const engine = await this.engines.engineFor(baseModel);
    return {
      engine,
      cache: new EmbeddingCache(this.config.embeddingCacheDir, `${baseModel.sha256} ${engine.producer}`),
    };
  }

  /** Embeds the recipe's views of every photo (row i·ROWS_PER_PHOTO + slot), streaming, cache first. */
  private async embedImages(
    images: Pick<DatasetImage, 'name' | 'path'>[],
    baseModel: BaseModelFiles,
    onProgress?: EmbeddingProgress,
    cancel?: AbortSignal,
  ) {
    const { engine, cache } = await this.cacheFor(baseModel);
    const onnxPath = engine.name === 'onnx' ? engine.onnxPath : undefined;
    const total = images.length;
    const photosPerTask = Math.max(1, Math.min(MAX_PHOTOS_PER_TASK, Math.floor(total / PROGRESS_STEPS)));
    // In shared memory: the training set keeps this store, and the head trainings read it without a copy.
    const embeddings = sharedFloat32Array(total * ROWS_PER_PHOTO * EMBEDDING_SIZE);
    const failures = new Map<number, string>();
    let done = 0;
    let cachedImages = 0;
    let cachedViews = 0;
    let embeddedViews = 0;
    /** Why the cache could not keep an embedding, the first time it could not. */
    let cacheRefused: string | undefined;
    const progress = (count: number) => onProgress?.((done += count), total);

    const inFlight = new Set<Promise<void>>();
    /** Every task, so that the first one to fail fails the whole embedding (a settled one leaves inFlight). */
    const tasks: Promise<void>[] = [];
    const maxInFlight = this.pool.size * 2;
    /** Photos waiting for a worker: only their views missing from the cache, with each view's row slot and key. */
    let pending: { index: number; bytes: Uint8Array; missing: { view: View; key: string; slot: number }[] }[] = [];

    const flush = async () => {
      if (!pending.length) return;
      const batch = pending;
      pending = [];
      cancel?.throwIfAborted();
      await this.engines.ensureSound(baseModel);
      const task = (async () => {
        const outcomes = await this.pool.embed(
          {
            modelJsonPath: baseModel.modelJsonPath,
            onnxPath,
            items: batch.map(({ bytes, missing }) => ({ bytes, views: missing.map((m) => m.view) })),
          },
          cancel,
        );
        await Promise.all(
          outcomes.map(async (outcome, i) => {
            const photo = batch[i];
            if ('error' in outcome) {
              failures.set(photo.index, outcome.error);
              return;
            }
            embeddedViews += outcome.embeddings.length;
            await Promise.all(
              outcome.embeddings.map((embedding, v) => {
                const { key, slot, view } = photo.missing[v];
                // A damaged base model or engine graph: no other attempt (nor photo) would fare better.
                if (!embedding.every(Number.isFinite))
                  throw new FinalError(
                    `the base model gave a value that is not a number for photo ${images[photo.index].name} ` +
                      `(view ${view}): its weights or the embedding engine's graph are damaged; check BASE_MODEL_URL ` +
                      `and clear MODEL_CACHE_DIR/onnx`,
                  );
                embeddings.set(embedding, (photo.index * ROWS_PER_PHOTO + slot) * EMBEDDING_SIZE);
                return cache.put(key, embedding).then((refused) => (cacheRefused ??= refused ?? undefined));
              }),
            );
          }),
        );
        progress(batch.length);
      })();
      inFlight.add(task);
      tasks.push(task);
      void task.finally(() => inFlight.delete(task)).catch(() => undefined);
      if (inFlight.size >= maxInFlight) await Promise.race(inFlight);
    };

    /** A photo's bytes and the views the cache lacks (or why it cannot be read). */
    const lookUp = async (index: number) => {
      const bytes = await readPhoto(images[index].path);
      if (typeof bytes === 'string') return { index, failure: bytes };
      const views = photoViews(cache, bytes);
      const hits = await Promise.all(views.map((v) => cache.get(v.key)));
      hits.forEach((hit, v) => hit && embeddings.set(hit, (index * ROWS_PER_PHOTO + views[v].slot) * EMBEDDING_SIZE));
      return { index, bytes, missing: views.filter((_, v) => !hits[v]) };
    };
    // Photos are read and looked up in the cache LOOKUP_AHEAD at a time (a retrain is mostly cache hits, each a
    // small file read), while only the photos that need the base model wait in memory for a worker.
    for (let start = 0; start < images.length; start += LOOKUP_AHEAD) {
      const indexes = Array.from({ length: Math.min(LOOKUP_AHEAD, images.length - start) }, (_, i) => start + i);
      for (const photo of await Promise.all(indexes.map(lookUp))) {
        if ('failure' in photo) {
          failures.set(photo.index, photo.failure!);
          progress(1);
        } else if (!photo.missing.length) {
          cachedImages++;
          cachedViews += ROWS_PER_PHOTO;
          progress(1);
        } else {
          cachedViews += ROWS_PER_PHOTO - photo.missing.length;
          pending.push({ index: photo.index, bytes: photo.bytes, missing: photo.missing });
          if (pending.length >= photosPerTask) await flush();
        }
      }
    }
    await flush();
    await Promise.all(tasks);
    return { embeddings, failures, cachedImages, cachedViews, embeddedViews, cacheRefused };
  }
}

/**
 * The training set of the photos that did not fail, from the embedding store (ROWS_PER_PHOTO rows per photo of
 * `dataset.images`, in order, first), which it keeps: the failed photos' rows are squeezed out in place (rows after
 * the photos', the scans', stay where they are).
 */
export function trainingSetOf(dataset: Dataset, embeddings: Float32Array, failures: Map<number, string>) {
  const kept = dataset.images.map((_, i) => i).filter((i) => !failures.has(i));
  const rowCount = kept.length * ROWS_PER_PHOTO;
  const photoSize = ROWS_PER_PHOTO * EMBEDDING_SIZE;
  const set: TrainingSet = {
    embeddings: embeddings.subarray(0, rowCount * EMBEDDING_SIZE),
    labels: new Int32Array(rowCount),
    photos: new Int32Array(rowCount),
    plain: new Uint8Array(rowCount),
    classCount: dataset.labels.length,
  };
  kept.forEach((imageIndex, photo) => {
    // `kept` only grows, so a photo moves down over rows that were already moved or failed.
    if (imageIndex !== photo)
      embeddings.copyWithin(photo * photoSize, imageIndex * photoSize, (imageIndex + 1) * photoSize);
    for (let v = 0; v < ROWS_PER_PHOTO; v++) {
      const row = photo * ROWS_PER_PHOTO + v;
      set.labels[row] = dataset.images[imageIndex].label;
      set.photos[row] = photo;
      set.plain[row] = v === 0 ? 1 : 0;
    }
  });
  const skipped = [...failures].map(([i, reason]) => ({
    label: dataset.labels[dataset.images[i].label].id,
    name: dataset.images[i].name,
    reason,
  }));
  return { set, images: kept.map((i) => dataset.images[i]), skipped };
}

/** A photo's views, each with its row slot and cache key. */
function photoViews(cache: EmbeddingCache, bytes: Uint8Array): { view: View; slot: number; key: string }[] {
  const sha = sha256Hex(bytes);
  return viewsForPhoto(sha).map((view, slot) => ({ view, slot, key: cache.key(sha, view) }));
}

/** The photo's bytes, or why it cannot be read (checked before reading, so a huge file is never loaded). */
async function readPhoto(file: string): Promise<Uint8Array | string> {
  try {
    const stat = await fs.stat(file);
    if (stat.size > MAX_IMAGE_BYTES) return `file is ${stat.size} bytes, over the ${MAX_IMAGE_BYTES}-byte limit`;
    if (stat.size === 0) return 'empty file';
    return new Uint8Array(await fs.readFile(file));
  } catch (err) {
    return `cannot read the file (${(err as NodeJS.ErrnoException).code ?? err})`;
  }
}
