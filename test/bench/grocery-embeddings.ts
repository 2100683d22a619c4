/**
 * Embeddings of grocery photos for the benchmarks, through the service's own worker pool and embedding cache: the
 * cache lives in BENCH_CACHE_DIR (default: a folder under the system's temp dir), so later benchmark runs skip the
 * base model. TensorFlow.js embeds them, or ONNX Runtime with BENCH_ONNX_GRAPH (a cached graph from
 * MODEL_CACHE_DIR/onnx; give it its own BENCH_CACHE_DIR): to compare the engines' accuracy.
 */
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { EmbeddingCache } from '../../src/training/embedding-cache';
import type { View } from '../../src/dataset/preprocess';
import { verifyModelFiles } from '../../src/training/ml/base-model';
import { MlWorkerPool } from '../../src/training/ml/ml-worker-pool';
import { sha256Hex } from '../../src/training/recipe';
import type { GroceryPhoto } from '../support/shared';

export const BENCH_CACHE_DIR = process.env.BENCH_CACHE_DIR ?? path.join(os.tmpdir(), 'ml-trainer-bench-embeddings');

/** embeddings[photo][view], in the order of `photos` and `views`. */
export async function embedGroceryPhotos(
  modelJsonPath: string,
  photos: GroceryPhoto[],
  views: readonly View[],
  log: (line: string) => void = () => undefined,
): Promise<Float32Array[][]> {
  const cache = new EmbeddingCache(BENCH_CACHE_DIR, await verifyModelFiles(modelJsonPath));
  const out: Float32Array[][] = photos.map(() => []);
  const missing: { photo: number; bytes: Uint8Array; views: { view: View; key: string; slot: number }[] }[] = [];
  for (const [i, photo] of photos.entries()) {
    const bytes = new Uint8Array(await fs.readFile(photo.file));
    const sha = sha256Hex(bytes);
    const todo: { view: View; key: string; slot: number }[] = [];
    for (const [slot, view] of views.entries()) {
      const key = cache.key(sha, view);
      const hit = await cache.get(key);
      if (hit) out[i][slot] = hit;
      else todo.push({ view, key, slot });
    }
    if (todo.length) missing.push({ photo: i, bytes, views: todo });
  }
  if (!missing.length) return out;
  log(
    `embedding ${missing.length} photos (${missing.reduce((n, m) => n + m.views.length, 0)} views) into ${BENCH_CACHE_DIR}`,
  );
  const pool = new MlWorkerPool({ workers: os.availableParallelism(), backend: 'auto' });
  try {
    const batches: (typeof missing)[] = [];
    for (let i = 0; i < missing.length; i += 8) batches.push(missing.slice(i, i + 8));
    await Promise.all(
      batches.map(async (batch) => {
        const outcomes = await pool.embed({
          modelJsonPath,
          onnxPath: process.env.BENCH_ONNX_GRAPH,
          items: batch.map((m) => ({ bytes: m.bytes.slice(), views: m.views.map((v) => v.view) })),
        });
        for (const [j, outcome] of outcomes.entries()) {
          if ('error' in outcome) throw new Error(`${photos[batch[j].photo].file}: ${outcome.error}`);
          for (const [v, embedding] of outcome.embeddings.entries()) {
            const { key, slot } = batch[j].views[v];
            out[batch[j].photo][slot] = embedding;
            await cache.put(key, embedding);
          }
        }
      }),
    );
  } finally {
    await pool.destroy();
  }
  return out;
}
