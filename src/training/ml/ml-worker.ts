/**
 * Entry point of the worker threads (run by piscina). Every TensorFlow.js and ONNX Runtime call of the service happens
 * here, so the main thread keeps answering HTTP while a model trains.
 */
import { workerData, type MessagePort } from 'node:worker_threads';
import type * as TF from '@tensorflow/tfjs';
import { cachedPromise } from '../../common/promise-cache';
import { EMBEDDING_SIZE, IMAGE_SIZE, INPUT_SHAPE } from '../../config/model-shape';
import {
  ImageRejectedError,
  limitDecoderThreads,
  preprocessImage,
  preprocessViews,
  type View,
} from '../../dataset/preprocess';
import type { EmbeddingEngineChoice, InputRange, TfBackendChoice } from '../../config/ml-choices';
import { loadTensorflow, type LoadedTensorflow } from './backend';
import { EMBEDDING_LAYER } from './base-model';
import { embedPixels, loadFeatureExtractor } from './feature-extractor';
import { FusedFeatureExtractor } from './fused-extractor';
import { fuseLayersModel, UnsupportedLayerError } from './fused-graph';
import { loadOnnxRuntime, OnnxEmbedder } from './onnx-runtime';
import { stopRequested } from './task-stop';
import { buildExportHead, type HeadWeights } from './dense-head';
import { trainHead, type HeadRecipe, type HeadTrainingReport } from './head';
import type { LinearWeights } from './linear-head';
import { mulberry32, type TrainingSet } from './training-set';
import {
  loadLayersModelFromFile,
  readModelArtifacts,
  writeLayersModel,
  type LayersModelFiles,
  type SavedModel,
} from './model-files';
import { maxAbsDifference, stackRows } from './vectors';

export interface MlWorkerOptions {
  backend: TfBackendChoice;
  /** EMBEDDING_ENGINE: whether ONNX Runtime may do the linear head's products too (see rowProducts). */
  engine: EmbeddingEngineChoice;
}

export interface EmbedTask {
  modelJsonPath: string;
  /** The base model's ONNX graph (embedding-engine.service.ts): when given, ONNX Runtime embeds instead of tfjs. */
  onnxPath?: string;
  /** Each photo once, with the views to cut from it. */
  items: { bytes: Uint8Array; views: View[] }[];
  /** Raised by the pool when the task is cancelled (task-stop.ts). */
  stop?: Int32Array;
}
/** One embedding per requested view, or why the photo could not be used. */
export type EmbedOutcome = { embeddings: Float32Array[] } | { error: string };

/** Every task's answer also says which backend did the work (the pool logs it once). */
export interface WorkerResult<T> {
  value: T;
  backend: string;
  skippedBackends: string[];
}

async function withTensorflow<T>(work: (tf: typeof TF) => Promise<T>): Promise<WorkerResult<T>> {
  const { tf, backend, skipped } = await getTensorflow();
  return { value: await work(tf), backend, skippedBackends: skipped };
}

let tensorflow: Promise<LoadedTensorflow> | undefined;
const extractors = new Map<string, Promise<Extractor>>();
const onnxEmbedders = new Map<string, Promise<OnnxEmbedder>>();

type Extractor = FusedFeatureExtractor | TF.Sequential;
/** Embeds the images; `stopped` is asked between images where the engine embeds them one by one. */
type Embed = (images: Float32Array[], stopped?: () => boolean) => Promise<Float32Array[]>;

// libvips' own threads only contend with the other workers for the cores: one per image is fastest here.
limitDecoderThreads(1);

const options = (): Partial<MlWorkerOptions> => (workerData as MlWorkerOptions | null) ?? {};

function getTensorflow(): Promise<LoadedTensorflow> {
  tensorflow ??= loadTensorflow(options().backend ?? 'auto');
  return tensorflow;
}

/**
 * Loads what the tasks need (TensorFlow.js, and ONNX Runtime unless EMBEDDING_ENGINE=tfjs) ahead of them; a library
 * that does not load is left for the task that needs it to report.
 */
export function warmUpTask(): Promise<WorkerResult<null>> {
  return withTensorflow(async () => {
    if (options().engine !== 'tfjs') {
      try {
        loadOnnxRuntime();
      } catch {
        // rowProducts and the embedding engine say why, or do without.
      }
    }
    return null;
  });
}

/** The fused extractor, or the base model's own layers when it has a layer the fused graph cannot express. */
async function getExtractor(modelJsonPath: string): Promise<Extractor> {
  const { tf } = await getTensorflow();
  return cachedPromise(extractors, modelJsonPath, async () => {
    try {
      return FusedFeatureExtractor.fromGraph(
        tf,
        fuseLayersModel(await readModelArtifacts(modelJsonPath), EMBEDDING_LAYER),
      );
    } catch (err) {
      if (!(err instanceof UnsupportedLayerError)) throw err;
      return loadFeatureExtractor(tf, modelJsonPath);
    }
  });
}

/** The engine the task asks for. */
async function embedderFor(tf: typeof TF, modelJsonPath: string, onnxPath?: string): Promise<Embed> {
  if (onnxPath) {
    const onnx = await cachedPromise(onnxEmbedders, onnxPath, () => OnnxEmbedder.load(onnxPath));
    return (images, stopped) => onnx.embed(images, stopped);
  }
  const extractor = await getExtractor(modelJsonPath);
  return async (images) => embedPixels(tf, extractor, images);
}

/** Decodes and preprocesses each photo's views; a photo that cannot be decoded gets its reason instead. */
async function preprocessPhotos(items: { bytes: Uint8Array; views: View[] }[]): Promise<(Float32Array[] | Error)[]> {
  return Promise.all(
    items.map(async (item) => {
      try {
        return (await preprocessViews(item.bytes, item.views)).map((view) => view.pixels);
      } catch (err) {
        if (err instanceof ImageRejectedError) return err;
        throw err;
      }
    }),
  );
}

/** Decodes, preprocesses and embeds a batch of photos; a photo that cannot be decoded gets its reason instead. */
export function embed(task: EmbedTask): Promise<WorkerResult<EmbedOutcome[]>> {
  return withTensorflow(async (tf) => {
    const embedder = await embedderFor(tf, task.modelJsonPath, task.onnxPath);
    const decoded = await preprocessPhotos(task.items);
    const embeddings = await embedder(
      decoded.flatMap((d) => (d instanceof Error ? [] : d)),
      stopRequested(task.stop),
    );
    let next = 0;
    return decoded.map((d): EmbedOutcome =>
      d instanceof Error ? { error: d.message } : { embeddings: d.map(() => embeddings[next++]) },
    );
  });
}

export interface CompareEnginesTask {
  modelJsonPath: string;
  onnxPath: string;
  items: { bytes: Uint8Array; views: View[] }[];
}

/** Largest |ONNX − tfjs| over the embeddings of the given photos and views (the ONNX graph's check). */
export function compareEnginesTask(task: CompareEnginesTask): Promise<WorkerResult<number>> {
  return withTensorflow(async (tf) => {
    const images = (await preprocessPhotos(task.items)).flatMap((d) => {
      if (d instanceof Error) throw d;
      return d;
    });
    const [onnx, tfjs] = await Promise.all([
      embedderFor(tf, task.modelJsonPath, task.onnxPath).then((e) => e(images)),
      embedderFor(tf, task.modelJsonPath).then((e) => e(images)),
    ]);
    // The graph under check is renamed into the cache once it passes: this session is not used again.
    const checked = onnxEmbedders.get(task.onnxPath);
    onnxEmbedders.delete(task.onnxPath);
    await (await checked)?.release();
    const max = Math.max(0, ...onnx.map((row, i) => maxAbsDifference(row, tfjs[i])));
    return Number.isFinite(max) ? max : Infinity;
  });
}

export interface TrainHeadTask {
  data: TrainingSet;
  recipe: HeadRecipe;
  /** Rows of data.embeddings to score with the trained head (HeadTrainingReport.scanLogits). */
  scanRows?: Int32Array;
  /** Where a linear head's fit starts (the last model's head). */
  start?: LinearWeights;
  /** Receives the share of the training done (a number from 0 to 1) as it goes. */
  progress?: MessagePort;
  /** Raised by the pool when the task is cancelled (task-stop.ts). */
  stop?: Int32Array;
}

export function trainHeadTask(task: TrainHeadTask): Promise<WorkerResult<HeadTrainingReport>> {
  return withTensorflow(async (tf) => {
    try {
      return await trainHead(tf, task.data, task.recipe, {
        onProgress: (fraction) => task.progress?.postMessage(fraction),
        scanRows: task.scanRows,
        start: task.start,
        engine: options().engine,
        stopped: stopRequested(task.stop),
      });
    } finally {
      task.progress?.close();
    }
  });
}

export interface ExportTask {
  modelJsonPath: string;
  head: HeadWeights;
  /** Where the model's files are written (the export format names them). */
  files: LayersModelFiles;
  /** Photos whose predictions must survive the round trip through the written files. */
  probes: Uint8Array[];
  inputRange: InputRange;
}
export interface ExportResult {
  tfjsVersion: string;
  /** Largest |p_memory − p_reloaded| over the probes and classes. */
  maxAbsDifference: number;
  probeCount: number;
  /**
   * The embedding the model computes for each probe photo (null for one it cannot read), for the export's self-check to compare
   * with the one its head was fitted to.
   */
  probeEmbeddings: (Float32Array | null)[];
}

/** Maximum allowed difference between in-memory and reloaded predictions. */
export const RELOAD_TOLERANCE = 1e-4;

/**
 * Builds the full Teachable-Machine-shaped model (truncated MobileNet + head), writes model.json and weights.bin,
 * then reloads the written files and checks they predict what the extractor and the head predict in memory (one forward
 * pass of the probes through the extractor gives both the expected predictions and the probe embeddings).
 */
export function exportModelTask(task: ExportTask): Promise<WorkerResult<ExportResult>> {
  return withTensorflow(async (tf) => {
    const extractor = await loadFeatureExtractor(tf, task.modelJsonPath);
    const head = buildExportHead(tf, task.head);
    const model = tf.sequential();
    if (task.inputRange === 'unit') addUnitRangeRescaling(tf, model);
    model.add(extractor);
    model.add(head);
    let reloaded: TF.LayersModel | undefined;
    const photos = await Promise.all(task.probes.map(readableProbe));
    const readable = photos.filter((p): p is Float32Array => p !== null);
    const random = mulberry32(7);
    const images = [...readable, Float32Array.from({ length: IMAGE_SIZE * IMAGE_SIZE * 3 }, () => random() * 2 - 1)];
    const embeddings = embedPixels(tf, extractor, images);
    const probes = modelInputs(tf, images, task.inputRange);
    try {
      const expected = tf.tidy(() =>
        (head.predict(tf.tensor2d(stackRows(embeddings), [embeddings.length, EMBEDDING_SIZE])) as TF.Tensor).dataSync(),
      );
      await model.save(
        tf.io.withSaveHandler(async (artifacts) => {
          await writeLayersModel(artifacts as SavedModel, task.files);
          return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
        }),
      );
      reloaded = await loadLayersModelFromFile(tf, task.files.modelJson);
      const actual = tf.tidy(() => (reloaded!.predict(probes) as TF.Tensor).dataSync());
      const difference = maxAbsDifference(expected, actual);
      if (!(difference < RELOAD_TOLERANCE)) {
        throw new Error(`the written model predicts differently from the trained one (max difference ${difference})`);
      }
      return {
        tfjsVersion: tf.version.tfjs,
        maxAbsDifference: difference,
        probeCount: images.length,
        probeEmbeddings: photos.map((p) => (p ? embeddings[readable.indexOf(p)] : null)),
      };
    } finally {
      probes.dispose();
      model.dispose();
      reloaded?.dispose();
    }
  });
}

/**
 * The first layer of a `unit` model: [0, 1] input → x·255/127 − 1, the base model's range. A 1×1 depthwise
 * convolution (a per-channel multiply-add) is exact and loads in TensorFlow.js 1.3.1, which has no Rescaling layer.
 */
function addUnitRangeRescaling(tf: typeof TF, model: TF.Sequential): void {
  const layer = tf.layers.depthwiseConv2d({
    kernelSize: 1,
    depthMultiplier: 1,
    useBias: true,
    inputShape: [...INPUT_SHAPE],
    name: 'rescale_unit_to_tm_range',
    trainable: false,
  });
  // Added first, so its weights are built (and named) inside the model.
  model.add(layer);
  layer.setWeights([tf.fill([1, 1, 3, 1], 255 / 127), tf.fill([3], -1)]);
}

/** A probe photo preprocessed as the model's users feed it (in the base model's range), or null if it cannot be read. */
async function readableProbe(bytes: Uint8Array): Promise<Float32Array | null> {
  try {
    return (await preprocessImage(bytes)).pixels;
  } catch (err) {
    if (err instanceof ImageRejectedError) return null;
    throw err;
  }
}

/** Images in the base model's range as a batch in the exported model's input range. */
function modelInputs(tf: typeof TF, images: Float32Array[], inputRange: InputRange): TF.Tensor4D {
  const batch = stackRows(images);
  // x / 127 − 1 back to x / 255 for a `unit` model.
  if (inputRange === 'unit') batch.forEach((v, i) => (batch[i] = ((v + 1) * 127) / 255));
  return tf.tensor4d(batch, [images.length, ...INPUT_SHAPE]);
}
