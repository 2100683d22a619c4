/**
 * What the speed benchmarks share: the CLI run as a user runs it, folders of photos for it, and the reference,
 * Teachable Machine's recipe reproduced in Node.
 */
import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import type * as TF from '@tensorflow/tfjs';
import { EMBEDDING_SIZE } from '../../src/config/model-shape';
import { preprocessImage } from '../../src/dataset/preprocess';
import { embedPixels, loadFeatureExtractor } from '../../src/training/ml/feature-extractor';
import { trainHead } from '../../src/training/ml/head';
import { TEACHABLE_MACHINE_RECIPE } from '../../src/training/ml/teachable-machine-head';
import type { TrainingSet } from '../../src/training/ml/training-set';
import { GROCERY, PROJECT_ROOT, REAL_BASE_MODEL_JSON, type GroceryPhoto } from '../support/shared';

const run = promisify(execFile);
const CLI = path.join(PROJECT_ROOT, 'dist-test', 'src', 'cli.js');
/** The seeds the reference's accuracy is averaged over; its timed training uses the first. */
export const BASELINE_SEEDS = [1, 2, 3];

/** The CLI's --json summary, as far as the benchmarks read it. */
export interface CliSummary {
  images: number;
  workers: number;
  secondsPerStage: Record<string, number>;
  peakRssMB: number;
  cpuSeconds: number;
  skippedImages: unknown[];
}

/**
 * The CLI on `folder`, as a user runs it (optionally behind a wrapper command, with more arguments); returns its JSON
 * summary and wall time. The base model's ONNX graph and negative bank are cached beside `cache` (made once per
 * machine); the embeddings in `cache`.
 */
export async function runCli(
  folder: string,
  out: string,
  cache: string,
  env: Record<string, string> = {},
  wrapper: string[] = [],
  args: string[] = [],
) {
  const started = performance.now();
  const command = [...wrapper, process.execPath, CLI, '--images', folder, '--out', out, '--json', ...args];
  const { stdout } = await run(command[0], command.slice(1), {
    env: {
      ...process.env,
      BASE_MODEL_URL: REAL_BASE_MODEL_JSON,
      MODEL_CACHE_DIR: path.join(path.dirname(cache), 'model-cache'),
      GROCERY_DATASET_URL: GROCERY.root,
      EMBEDDING_CACHE_DIR: path.join(cache, 'embeddings'),
      ...env,
    },
    maxBuffer: 1 << 24,
  });
  const wallSeconds = (performance.now() - started) / 1000;
  return { summary: JSON.parse(stdout.trim().split('\n').pop()!) as CliSummary, wallSeconds };
}

/** A folder of one sub-folder per product (named after it) of symlinks to its photos, in their order. */
export async function productFolder(root: string, products: { name: string; files: string[] }[]): Promise<string> {
  for (const product of products) {
    const dir = path.join(root, product.name);
    await fs.mkdir(dir, { recursive: true });
    // Numbered in the order given: photos of one product may come from folders that repeat a name.
    for (const [i, file] of product.files.entries())
      await fs.symlink(file, path.join(dir, `${String(i).padStart(3, '0')}-${path.basename(file)}`));
  }
  return root;
}

/** One sub-folder per class (named after it) of symlinks to the photos. */
export function linkFolder(root: string, photos: GroceryPhoto[], names: Map<number, string>): Promise<string> {
  const byClass = new Map<number, string[]>();
  for (const photo of photos) byClass.set(photo.classId, [...(byClass.get(photo.classId) ?? []), photo.file]);
  return productFolder(
    root,
    [...byClass].map(([classId, files]) => ({ name: names.get(classId)!, files })),
  );
}

/**
 * Teachable Machine's recipe reproduced in Node, timed from start to trained head, as its library trains: each photo
 * preprocessed (centre view) and passed through its truncated MobileNet (the base model's own layers) one at a time
 * as it is added, on this one thread, then its head (Dense 100 → softmax, 50 epochs).
 */
export async function teachableMachine(tf: typeof TF, photos: GroceryPhoto[]) {
  const started = performance.now();
  const truncated = await loadFeatureExtractor(tf, REAL_BASE_MODEL_JSON);
  const classIds = [...new Set(photos.map((p) => p.classId))].sort((a, b) => a - b);
  const set: TrainingSet = {
    embeddings: new Float32Array(photos.length * EMBEDDING_SIZE),
    labels: Int32Array.from(photos, (p) => classIds.indexOf(p.classId)),
    photos: Int32Array.from(photos, (_, i) => i),
    plain: new Uint8Array(photos.length).fill(1),
    classCount: classIds.length,
  };
  for (const [i, photo] of photos.entries()) {
    const { pixels } = await preprocessImage(await fs.readFile(photo.file));
    set.embeddings.set(embedPixels(tf, truncated, [pixels])[0], i * EMBEDDING_SIZE);
  }
  truncated.dispose();
  const first = await trainHead(tf, set, { ...TEACHABLE_MACHINE_RECIPE, seed: BASELINE_SEEDS[0] });
  return { seconds: (performance.now() - started) / 1000, set, classIds, first };
}
