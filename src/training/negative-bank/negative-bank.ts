/**
 * The negative bank: embeddings of grocery products that no shop is measured on, for outlier exposure (see
 * ml/linear-head.ts). The repository keeps only its definition (bank-photos.txt: paths inside the Grocery Store
 * Dataset); NegativeBankService fetches the photos, embeds them with the job's base model and caches the result.
 * This file holds the plain parts: the definition, the bank's file format, and the shop's classes left out of it.
 */
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { projectFile } from '../../common/project-files';
import { stagingPath } from '../../common/staging';
import { photoClass, readPhotoList, type PhotoList } from '../../dataset/public-dataset';
import { dot, embeddingRow, sharedUint8Array, unitVector, type NegativeSet, type TrainingSet } from '../ml';
import { EMBEDDING_SIZE } from '../../config/model-shape';

/** The bank's definition: one photo path inside the dataset's `dataset/` folder a line; the class is its folder. */
export const BANK_DEFINITION_FILE = projectFile('src', 'training', 'negative-bank', 'bank-photos.txt');

export function loadBankDefinition(): Promise<PhotoList> {
  return readPhotoList(BANK_DEFINITION_FILE);
}

/** What a cached bank is: made from which definition with which base model, and what its embeddings file holds. */
interface NegativeBankManifest {
  baseModelSha256: string;
  definitionSha256: string;
  /** The photos embedded (the definition's, less any that could not be had), in row order. */
  sources: string[];
  /** embeddings.bin is one centre-view row of 1280 bytes per source; value = byte × scale. */
  scale: number;
  /** sha256 of embeddings.bin: a damaged file is not used. */
  embeddingsSha256: string;
}

const MANIFEST_FILE = 'bank.json';
const EMBEDDINGS_FILE = 'embeddings.bin';

/** The bank as loaded: one row per photo (its centre view), and which class each photo shows. */
export interface NegativeBank extends NegativeSet {
  classOfPhoto: string[];
}

/**
 * Embeddings stored as one byte a value (in shared memory, as the head trainings read them in worker threads): ReLU6
 * outputs averaged over 7×7 lie within [0, 6], so a step of at most 6/255 loses nothing the head needs.
 */
export function quantizeBank(embeddings: Float32Array): { bytes: Uint8Array; scale: number } {
  let max = 0;
  for (const v of embeddings) {
    if (!Number.isFinite(v)) throw new Error('a bank embedding is not finite');
    max = Math.max(max, v);
  }
  const scale = max / 255 || 1;
  const bytes = sharedUint8Array(embeddings.length);
  embeddings.forEach((v, i) => (bytes[i] = Math.round(Math.max(0, v) / scale)));
  return { bytes, scale };
}

/** The bank of `sources` from their centre-view embeddings (one 1280-float row each, in order). */
export function negativeBankOf(sources: string[], embeddings: Float32Array): NegativeBank {
  if (embeddings.length !== sources.length * EMBEDDING_SIZE)
    throw new Error(
      `${sources.length} bank photos need ${sources.length * EMBEDDING_SIZE} values, got ${embeddings.length}`,
    );
  return {
    ...quantizeBank(embeddings),
    photos: Int32Array.from(sources, (_, i) => i),
    classOfPhoto: sources.map(photoClass),
  };
}

/** Which bank a folder holds: the base model's and the definition's hashes. */
export interface BankIdentity {
  baseModelSha256: string;
  definitionSha256: string;
}

/** Writes a bank into `dir` (replacing what was there at once: readers see the old bank or the new one). */
export async function writeNegativeBank(
  dir: string,
  identity: BankIdentity,
  sources: string[],
  bank: NegativeBank,
): Promise<void> {
  const staging = stagingPath(dir, 'tmp');
  await fs.mkdir(staging, { recursive: true });
  try {
    const manifest: NegativeBankManifest = {
      ...identity,
      sources,
      scale: bank.scale,
      embeddingsSha256: createHash('sha256').update(bank.bytes).digest('hex'),
    };
    await fs.writeFile(path.join(staging, EMBEDDINGS_FILE), bank.bytes);
    await fs.writeFile(path.join(staging, MANIFEST_FILE), JSON.stringify(manifest));
    await fs.rm(dir, { recursive: true, force: true });
    await fs.rename(staging, dir);
  } finally {
    await fs.rm(staging, { recursive: true, force: true });
  }
}

/**
 * The bank in `dir` when it is the one asked for and intact; null when there is none, or another, or a damaged one
 * (the caller builds it again).
 */
export async function readNegativeBank(dir: string, identity: BankIdentity): Promise<NegativeBank | null> {
  let manifest: NegativeBankManifest;
  let bytes: Buffer;
  try {
    manifest = JSON.parse(await fs.readFile(path.join(dir, MANIFEST_FILE), 'utf8')) as NegativeBankManifest;
    bytes = await fs.readFile(path.join(dir, EMBEDDINGS_FILE));
  } catch {
    return null;
  }
  if (
    manifest?.baseModelSha256 !== identity.baseModelSha256 ||
    manifest.definitionSha256 !== identity.definitionSha256 ||
    !Array.isArray(manifest.sources) ||
    !(manifest.scale > 0) ||
    bytes.length !== manifest.sources.length * EMBEDDING_SIZE ||
    createHash('sha256').update(bytes).digest('hex') !== manifest.embeddingsSha256
  )
    return null;
  const shared = sharedUint8Array(bytes.length);
  shared.set(bytes);
  return {
    bytes: shared,
    scale: manifest.scale,
    photos: Int32Array.from(manifest.sources, (_, i) => i),
    classOfPhoto: manifest.sources.map(photoClass),
  };
}

/**
 * Two photo sets whose mean centre embeddings are this close (cosine) show the same product: measured on the grocery
 * photos, a bank class against the same product's shop photos 0.967-0.995, against the nearest other product at most
 * 0.942.
 */
const SAME_PRODUCT_COSINE = 0.955;

/**
 * The bank without the classes that are one of the shop's products (a shop may sell what the bank shows: teaching
 * the head to be unsure of it would fight its own label), and the names of the classes left out.
 */
export function bankWithoutShopProducts(
  bank: NegativeBank,
  shop: TrainingSet,
): { negatives: NegativeSet; leftOut: string[] } {
  const shopMeans = meanDirections(shop.classCount, (add) =>
    shop.plain.forEach((plain, row) => plain && add(shop.labels[row], embeddingRow(shop, row))),
  );
  const names = [...new Set(bank.classOfPhoto)];
  const bankMeans = meanDirections(names.length, (add) => {
    const value = new Float32Array(EMBEDDING_SIZE);
    for (let row = 0; row < bank.photos.length; row++) {
      const from = row * EMBEDDING_SIZE;
      for (let j = 0; j < EMBEDDING_SIZE; j++) value[j] = bank.bytes[from + j] * bank.scale;
      add(names.indexOf(bank.classOfPhoto[bank.photos[row]]), value);
    }
  });
  const leftOut = names.filter((_, c) => shopMeans.some((m) => dot(m, bankMeans[c]) >= SAME_PRODUCT_COSINE));
  if (!leftOut.length) return { negatives: { bytes: bank.bytes, scale: bank.scale, photos: bank.photos }, leftOut };
  const keptRows = Array.from(bank.photos.keys()).filter(
    (row) => !leftOut.includes(bank.classOfPhoto[bank.photos[row]]),
  );
  const bytes = sharedUint8Array(keptRows.length * EMBEDDING_SIZE);
  keptRows.forEach((row, i) =>
    bytes.set(bank.bytes.subarray(row * EMBEDDING_SIZE, (row + 1) * EMBEDDING_SIZE), i * EMBEDDING_SIZE),
  );
  return {
    negatives: { bytes, scale: bank.scale, photos: Int32Array.from(keptRows, (row) => bank.photos[row]) },
    leftOut,
  };
}

/** Per group, the unit vector along the sum of the embeddings added to it. */
function meanDirections(
  groups: number,
  fill: (add: (group: number, embedding: ArrayLike<number>) => void) => void,
): Float32Array[] {
  const sums = Array.from({ length: groups }, () => new Float32Array(EMBEDDING_SIZE));
  fill((group, embedding) => {
    for (let j = 0; j < EMBEDDING_SIZE; j++) sums[group][j] += embedding[j];
  });
  return sums.map(unitVector);
}
