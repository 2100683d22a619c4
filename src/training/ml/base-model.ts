/** Finds, verifies and hashes a base model (a local file or a URL). */
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { isHttpUrl } from '../../common/egress';
import { TrainerError } from '../../common/errors';
import { isLocalDiskError } from '../../common/local-disk';
import { removeStaleStaging, stagingPath } from '../../common/staging';
import { INPUT_SHAPE } from '../../config/model-shape';

/** Layer whose output, globally average-pooled, is the 1280-float embedding (as in Teachable Machine). */
export const EMBEDDING_LAYER = 'out_relu';
export const EXPECTED_INPUT_SHAPE = [null, ...INPUT_SHAPE];

const DOWNLOAD_TIMEOUT_MS = 120_000;
const MAX_MODEL_BYTES = 256 * 1024 * 1024;

export interface BaseModelFiles {
  /** What the user configured (URL or path), reported in the exported metadata. */
  source: string;
  /** Local model.json; its weight shards sit beside it. */
  modelJsonPath: string;
  /** sha256 of the weight shards, concatenated in manifest order: the model's identity. */
  sha256: string;
}

interface WeightSpec {
  name: string;
  shape: number[];
  dtype: string;
  quantization?: { dtype: string };
}
interface ModelJson {
  format?: string;
  modelTopology: { class_name?: string; config?: { layers?: LayerJson[] } } & Record<string, unknown>;
  weightsManifest: { paths: string[]; weights: WeightSpec[] }[];
}
interface LayerJson {
  name?: string;
  class_name: string;
  config: { name?: string; batch_input_shape?: (number | null)[] };
}

/** Thrown when the configured base model cannot be used; the message names the path or URL. */
export class BaseModelError extends TrainerError {}

/** Hears how many bytes of the weights have arrived, of how many (the manifest's), while a base model downloads. */
export type DownloadProgress = (receivedBytes: number, totalBytes: number) => void;

export interface ResolveOptions {
  /** The weights' sha256 when it is known (Teachable Machine's default): anything else is refused, named. */
  expectedSha256?: string;
  /** What the expected model is, for the message when its hash differs. */
  expectedName?: string;
  onProgress?: DownloadProgress;
}

/**
 * Finds the base model's files on disk: a local path or file:// URL is used in place; an http(s) URL is downloaded
 * once into `cacheDir` and verified before use (complete shards, parseable JSON, expected input shape, and the known
 * sha256 when there is one).
 */
export async function resolveBaseModel(
  source: string,
  cacheDir: string,
  options: ResolveOptions = {},
): Promise<BaseModelFiles> {
  if (isHttpUrl(source)) return { source, ...(await cachedDownload(source, cacheDir, options)) };
  const modelJsonPath = source.startsWith('file://') ? fileURLToPath(source) : path.resolve(source);
  const sha256 = await verifyModelFiles(modelJsonPath);
  checkSha256(sha256, modelJsonPath, options);
  return { source, modelJsonPath, sha256 };
}

function checkSha256(actual: string, where: string, { expectedSha256, expectedName }: ResolveOptions): void {
  if (expectedSha256 === undefined || actual === expectedSha256) return;
  throw new BaseModelError(
    `base model at ${where} has weights with sha256 ${actual}, but ${expectedName ?? 'the expected model'} has ` +
      `${expectedSha256}: the download was damaged or the files were changed (${OFFLINE_HINT})`,
  );
}

const OFFLINE_HINT = 'to use a copy of your own, set BASE_MODEL_URL or --base-model to its local model.json';

/** Checks a layers model.json and its shards; returns the sha256 of the weights. */
export async function verifyModelFiles(modelJsonPath: string): Promise<string> {
  let text: string;
  try {
    text = await fs.readFile(modelJsonPath, 'utf8');
  } catch (err) {
    throw new BaseModelError(
      `base model not readable at ${modelJsonPath}: ${(err as NodeJS.ErrnoException).code ?? err}`,
    );
  }
  const model = parseModelJson(text, modelJsonPath);
  const hash = createHash('sha256');
  for (const group of model.weightsManifest) {
    const expected = group.weights.reduce((sum, w) => sum + weightByteLength(w), 0);
    let actual = 0;
    for (const shard of group.paths) {
      const shardPath = path.join(path.dirname(modelJsonPath), shard);
      let bytes: Buffer;
      try {
        bytes = await fs.readFile(shardPath);
      } catch (err) {
        throw new BaseModelError(
          `base model weight shard missing at ${shardPath}: ${(err as NodeJS.ErrnoException).code ?? err}`,
        );
      }
      hash.update(bytes);
      actual += bytes.length;
    }
    if (actual !== expected) {
      throw new BaseModelError(
        `base model weights at ${path.dirname(modelJsonPath)} are incomplete: ${actual} bytes, manifest says ${expected}`,
      );
    }
  }
  return hash.digest('hex');
}

function parseModelJson(text: string, where: string): ModelJson {
  let model: ModelJson;
  try {
    model = JSON.parse(text) as ModelJson;
  } catch {
    throw new BaseModelError(`base model at ${where} is not valid JSON`);
  }
  const layers = model?.modelTopology?.config?.layers;
  if (!Array.isArray(layers) || !Array.isArray(model.weightsManifest)) {
    throw new BaseModelError(
      `base model at ${where} is not a TensorFlow.js layers model (no layers or weightsManifest)`,
    );
  }
  const input = layers.find((l) => l.class_name === 'InputLayer')?.config.batch_input_shape;
  if (JSON.stringify(input) !== JSON.stringify(EXPECTED_INPUT_SHAPE)) {
    throw new BaseModelError(
      `base model at ${where} takes input ${JSON.stringify(input)}, expected ${JSON.stringify(EXPECTED_INPUT_SHAPE)}`,
    );
  }
  if (!layers.some((l) => (l.name ?? l.config.name) === EMBEDDING_LAYER)) {
    throw new BaseModelError(`base model at ${where} has no layer named "${EMBEDDING_LAYER}"`);
  }
  for (const group of model.weightsManifest) {
    for (const shard of group.paths) {
      // Shard names come from a remote file: they must stay inside the model's folder.
      if (path.basename(shard) !== shard)
        throw new BaseModelError(`base model at ${where} names an unsafe shard path "${shard}"`);
    }
  }
  return model;
}

function weightByteLength(spec: WeightSpec): number {
  const count = spec.shape.reduce((a, b) => a * b, 1);
  const dtype = spec.quantization?.dtype ?? spec.dtype;
  const bytesPer: Record<string, number> = { float32: 4, int32: 4, uint16: 2, float16: 2, uint8: 1, bool: 1 };
  const size = bytesPer[dtype];
  if (size === undefined) throw new BaseModelError(`base model weight ${spec.name} has unsupported dtype ${dtype}`);
  return count * size;
}

async function cachedDownload(
  url: string,
  cacheDir: string,
  options: ResolveOptions,
): Promise<Omit<BaseModelFiles, 'source'>> {
  const dir = path.join(cacheDir, 'base-models', createHash('sha256').update(url).digest('hex').slice(0, 16));
  const modelJsonPath = path.join(dir, 'model.json');
  try {
    const sha256 = await verifyModelFiles(modelJsonPath);
    checkSha256(sha256, modelJsonPath, options);
    return { modelJsonPath, sha256 };
  } catch {
    // Not cached yet, or a damaged or changed copy: download again.
  }
  // What a killed process was downloading is removed before this download starts.
  await removeStaleStaging(path.dirname(dir));
  const staging = stagingPath(dir, 'download');
  try {
    await fs.mkdir(staging, { recursive: true });
    const modelText = (await download(url)).toString('utf8');
    const model = parseModelJson(modelText, url);
    await fs.writeFile(path.join(staging, 'model.json'), modelText);
    const total = model.weightsManifest.reduce(
      (sum, group) => sum + group.weights.reduce((n, w) => n + weightByteLength(w), 0),
      0,
    );
    let received = 0;
    options.onProgress?.(0, total);
    for (const shard of model.weightsManifest.flatMap((g) => g.paths)) {
      const bytes = await download(new URL(shard, url).toString(), (chunk) => {
        received += chunk;
        options.onProgress?.(Math.min(received, total), total);
      });
      await fs.writeFile(path.join(staging, shard), bytes);
    }
    const sha256 = await verifyModelFiles(path.join(staging, 'model.json'));
    checkSha256(sha256, url, options);
    await fs.rm(dir, { recursive: true, force: true });
    await fs.rename(staging, dir);
    return { modelJsonPath, sha256 };
  } catch (err) {
    // Unlike the other caches, the base model cannot be done without: the job waits for room (its next attempt).
    if (isLocalDiskError(err))
      throw new BaseModelError(
        `the base model could not be stored in MODEL_CACHE_DIR (${(err as NodeJS.ErrnoException).code ?? 'refused'}` +
          `: full or not writable): free space there, or ${OFFLINE_HINT} (used where it is, nothing stored)`,
      );
    throw err;
  } finally {
    // A folder that cannot be removed now (the disk refused it) is removed by the next download's sweep.
    await fs.rm(staging, { recursive: true, force: true }).catch(() => undefined);
  }
}

/** One file of the model, streamed (refused past MAX_MODEL_BYTES as it arrives); `onChunk` hears each chunk's size. */
async function download(url: string, onChunk?: (bytes: number) => void): Promise<Buffer> {
  let response: Response;
  try {
    response = await fetch(url, { signal: AbortSignal.timeout(DOWNLOAD_TIMEOUT_MS), redirect: 'follow' });
  } catch (err) {
    // fetch() reports "fetch failed" and keeps the real reason (DNS, refused, timeout) in `cause`.
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    const reason = cause?.code ?? cause?.message ?? (err instanceof Error ? err.message : String(err));
    throw new BaseModelError(`base model download from ${url} failed: ${reason} (${OFFLINE_HINT})`);
  }
  if (!response.ok || !response.body) {
    await response.body?.cancel();
    throw new BaseModelError(`base model download from ${url} failed: HTTP ${response.status} (${OFFLINE_HINT})`);
  }
  const tooLarge = () => new BaseModelError(`base model file at ${url} is larger than ${MAX_MODEL_BYTES} bytes`);
  if (Number(response.headers.get('content-length') ?? 0) > MAX_MODEL_BYTES) {
    await response.body.cancel();
    throw tooLarge();
  }
  const chunks: Uint8Array[] = [];
  let length = 0;
  try {
    for await (const chunk of response.body) {
      length += chunk.length;
      if (length > MAX_MODEL_BYTES) throw tooLarge();
      chunks.push(chunk);
      onChunk?.(chunk.length);
    }
  } catch (err) {
    if (err instanceof BaseModelError) throw err;
    throw new BaseModelError(
      `base model download from ${url} broke off after ${length} bytes: ${err instanceof Error ? err.message : err} (${OFFLINE_HINT})`,
    );
  }
  return Buffer.concat(chunks);
}
