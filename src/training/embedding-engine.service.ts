/** Picks the embedding engine (ONNX Runtime or TensorFlow.js) for a base model, once. */
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { Injectable, Logger } from '@nestjs/common';
import { removeStaleStaging, stagingPath } from '../common/staging';
import { FinalError } from '../common/errors';
import { cachedPromise } from '../common/promise-cache';
import { AppConfig } from '../config/app-config';
import { encodePng, type View } from '../dataset/preprocess';
import {
  EMBEDDING_LAYER,
  fuseLayersModel,
  loadOnnxRuntime,
  maxAbsDifference,
  mulberry32,
  onnxModelOf,
  readModelArtifacts,
  type BaseModelFiles,
} from './ml';
import { AUGMENTATION_VIEWS } from './recipe';
import { MlWorkerPoolService } from './ml-worker-pool.service';

/**
 * How a base model's photos are embedded: by ONNX Runtime from its ONNX graph, or by TensorFlow.js. `producer` names
 * what makes the embeddings (the engine, and the graph's sha256), for the embedding cache's keys.
 */
export type EmbeddingEngine = { name: 'onnx'; onnxPath: string; producer: string } | { name: 'tfjs'; producer: string };

const TFJS: EmbeddingEngine = { name: 'tfjs', producer: 'tfjs' };

/** Largest difference from the tfjs embeddings that a generated ONNX graph may show. */
export const ONNX_TOLERANCE = 1e-4;
/** Part of the cached graph's name: a change to onnx-model.ts that changes the graph bumps it. */
const ONNX_GRAPH_VERSION = 1;

/**
 * Chooses the embedding engine per base model (EMBEDDING_ENGINE): the ONNX graph is generated from the tfjs base
 * model the job uses, checked against tfjs on probe images, and cached by the model's sha256. In `auto`, anything
 * that stops it (onnxruntime-node not loading, a layer the graph cannot express, a check that fails) is logged with
 * its reason and the tfjs path embeds instead; with `onnx` it fails the training.
 */
@Injectable()
export class EmbeddingEngineService {
  private readonly logger = new Logger('EmbeddingEngine');
  private readonly engines = new Map<string, Promise<EmbeddingEngine>>();
  private readonly soundness = new Map<string, Promise<void>>();

  constructor(
    private readonly config: AppConfig,
    private readonly pool: MlWorkerPoolService,
  ) {}

  engineFor(baseModel: BaseModelFiles): Promise<EmbeddingEngine> {
    return cachedPromise(this.engines, baseModel.sha256, () => this.choose(baseModel));
  }

  /**
   * Throws when the base model is damaged (see refuseDegenerate); once per base model and process, before the first
   * photo it embeds (a retrain whose embeddings all come from the cache does not need it).
   */
  ensureSound(baseModel: BaseModelFiles): Promise<void> {
    return cachedPromise(this.soundness, baseModel.sha256, async () =>
      this.refuseDegenerate(baseModel, await this.engineFor(baseModel)),
    );
  }

  private async choose(baseModel: BaseModelFiles): Promise<EmbeddingEngine> {
    if (this.config.EMBEDDING_ENGINE === 'tfjs') {
      this.logger.log('embedding engine: TensorFlow.js (EMBEDDING_ENGINE=tfjs)');
      return TFJS;
    }
    try {
      const { onnxPath, sha256 } = await this.verifiedGraph(baseModel);
      this.logger.log(
        `embedding engine: ONNX Runtime ${loadOnnxRuntime().env.versions.node} (one thread in each of ${this.pool.size} workers)`,
      );
      return { name: 'onnx', onnxPath, producer: `onnx ${sha256}` };
    } catch (err) {
      const reason = (err as Error).message;
      if (this.config.EMBEDDING_ENGINE === 'onnx') throw new Error(`EMBEDDING_ENGINE=onnx cannot be used: ${reason}`);
      this.logger.warn(`embedding engine: TensorFlow.js (ONNX Runtime not used: ${reason})`);
      return TFJS;
    }
  }

  /**
   * A base model with damaged weights (all zeros from a broken mirror, say: the sha256 is checked only for the default
   * URL) embeds every photo alike, and a head trained on it names nothing, or anything. Before any photo of a job,
   * three clearly different probe photos must give finite, varied and different embeddings with the engine chosen
   * (which agrees with TensorFlow.js: checked when its graph was made).
   */
  private async refuseDegenerate(baseModel: BaseModelFiles, engine: EmbeddingEngine): Promise<void> {
    const outcomes = await this.pool.embed({
      modelJsonPath: baseModel.modelJsonPath,
      onnxPath: engine.name === 'onnx' ? engine.onnxPath : undefined,
      items: (await distinctProbeImages()).map((bytes) => ({ bytes, views: ['centre'] as View[] })),
    });
    const failed = outcomes.find((o) => 'error' in o);
    const problem = failed
      ? `cannot embed a probe photo (${(failed as { error: string }).error})`
      : degenerateEmbeddings(outcomes.map((o) => ('embeddings' in o ? o.embeddings[0] : new Float32Array())));
    if (problem)
      throw new FinalError(
        `the base model ${baseModel.source} ${problem}: its weights are damaged or it is not an image model; point ` +
          `BASE_MODEL_URL (or --base-model) at Teachable Machine's MobileNet V2 0.35 or a good copy of it`,
      );
  }

  /**
   * The base model's ONNX graph. Generated and cached under its sha256, and only after it has matched tfjs on probe
   * images. The graph is the same bytes every time it is generated, so a cached file is used only when it still is
   * them: a truncated or altered graph (which failed every job, or embedded wrongly) is made again.
   */
  private async verifiedGraph(baseModel: BaseModelFiles): Promise<{ onnxPath: string; sha256: string }> {
    loadOnnxRuntime();
    const dir = path.join(this.config.MODEL_CACHE_DIR, 'onnx');
    const onnxPath = path.join(dir, `${baseModel.sha256}.v${ONNX_GRAPH_VERSION}.onnx`);
    const graph = onnxModelOf(fuseLayersModel(await readModelArtifacts(baseModel.modelJsonPath), EMBEDDING_LAYER));
    const sha256 = createHash('sha256').update(graph).digest('hex');
    const cached = await fs.readFile(onnxPath).catch(() => undefined);
    if (cached && Buffer.from(graph).equals(cached)) return { onnxPath, sha256 };
    if (cached)
      this.logger.warn(
        `the cached ONNX graph of base model ${baseModel.sha256.slice(0, 12)}… is damaged or changed (${cached.length} ` +
          `bytes, ${graph.length} expected): made again`,
      );
    await fs.mkdir(dir, { recursive: true });
    // What a killed process left unchecked goes; a live one's (another replica's) stays.
    await removeStaleStaging(dir);
    const unchecked = stagingPath(onnxPath, 'unchecked');
    try {
      // Inside the try: a disk that fills up midway leaves no part of it.
      await fs.writeFile(unchecked, graph);
      const difference = await this.pool.compareEngines({
        modelJsonPath: baseModel.modelJsonPath,
        onnxPath: unchecked,
        items: await probeImages(),
      });
      if (!(difference <= ONNX_TOLERANCE))
        throw new Error(`its ONNX graph embeds ${difference} away from TensorFlow.js (allowed: ${ONNX_TOLERANCE})`);
      await fs.rename(unchecked, onnxPath);
      this.logger.log(
        `ONNX graph of base model ${baseModel.sha256.slice(0, 12)}… written (${graph.length} bytes, checked against TensorFlow.js: max difference ${difference.toExponential(1)})`,
      );
      return { onnxPath, sha256 };
    } finally {
      await fs.rm(unchecked, { force: true });
    }
  }
}

/** Embeddings closer than this (largest difference of a value) count as the same. */
const SAME_EMBEDDING = 1e-4;

/**
 * What is wrong with the embeddings of clearly different photos, or null: a value that is not a number, all zeros,
 * one value repeated, or two photos embedded alike.
 */
export function degenerateEmbeddings(embeddings: Float32Array[]): string | null {
  if (embeddings.some((e) => !e.length || !e.every(Number.isFinite))) return 'gives values that are not numbers';
  if (embeddings.every((e) => e.every((v) => v === 0))) return 'gives all-zero embeddings';
  if (embeddings.every((e) => Math.max(...e) - Math.min(...e) < SAME_EMBEDDING))
    return 'gives embeddings whose values are all the same';
  for (let a = 0; a < embeddings.length; a++)
    for (let b = a + 1; b < embeddings.length; b++)
      if (maxAbsDifference(embeddings[a], embeddings[b]) < SAME_EMBEDDING)
        return 'gives the same embedding for clearly different photos';
  return null;
}

/** A PNG of `width` × `height` whose every byte is `pixel(x, y, channel)`, drawn in the order of the bytes. */
function drawPng(width: number, height: number, pixel: (x: number, y: number, channel: number) => number) {
  const rgb = new Uint8Array(width * height * 3);
  for (let i = 0; i < rgb.length; i++) {
    const p = Math.floor(i / 3);
    rgb[i] = pixel(p % width, Math.floor(p / width), i % 3);
  }
  return encodePng(rgb, width, height);
}

/** Three photos nothing alike: a colour gradient, a black and white checkerboard, noise. */
function distinctProbeImages(): Promise<Uint8Array[]> {
  const size = 96;
  const random = mulberry32(5);
  return Promise.all([
    drawPng(size, size, (x, _y, c) => (c === 0 ? Math.floor((255 * x) / size) : c === 1 ? 40 : 200)),
    drawPng(size, size, (x, y) => ((Math.floor(x / 12) + Math.floor(y / 12)) % 2 ? 255 : 0)),
    drawPng(size, size, () => Math.floor(random() * 256)),
  ]);
}

/** Two fixed pseudo-random photos (smooth gradients with noise), in the plain view and a tight crop. */
function probeImages(): Promise<{ bytes: Uint8Array; views: View[] }[]> {
  const random = mulberry32(11);
  return Promise.all(
    [
      [320, 240],
      [200, 300],
    ].map(async ([width, height]) => ({
      bytes: await drawPng(width, height, (x, y, c) =>
        Math.min(255, Math.floor((x / width + y / height) * 100 + c * 40 + random() * 60)),
      ),
      views: ['centre', AUGMENTATION_VIEWS[0]] as View[],
    })),
  );
}
