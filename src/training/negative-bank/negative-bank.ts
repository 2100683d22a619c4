/**
 * The negative bank shipped with the project: embeddings of grocery products that no shop is measured on, for
 * outlier exposure (see ml/head.ts). Its classes are listed in bank-classes.txt beside this file.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { View } from '../../dataset/preprocess';
import { projectFile } from '../../common/project-files';
import { dot, embeddingRow, sharedUint8Array, unitVector, type NegativeSet, type TrainingSet } from '../ml';
import { EMBEDDING_SIZE } from '../../common/model-shape';

/** The folder that holds the bank's files (in the source tree, which the package and the Docker image ship). */
export const NEGATIVE_BANK_DIR = projectFile('src', 'training', 'negative-bank');

/** Views of every bank photo: the head sees one of them per epoch. */
export const BANK_VIEWS: readonly View[] = [
  'centre',
  'mirror',
  'zoom75',
  'zoom75mirror',
  'zoom50tl',
  'zoom50tr',
  'zoom50bl',
  'zoom50br',
];

/** The grocery class folder names the bank is drawn from. */
export async function loadBankClasses(): Promise<string[]> {
  const text = await fs.readFile(path.join(NEGATIVE_BANK_DIR, 'bank-classes.txt'), 'utf8');
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
}

/** bank.json: what embeddings.bin holds. */
export interface NegativeBankManifest {
  /** sha256 of the base model's weights the embeddings were made with; another base model cannot use them. */
  baseModelSha256: string;
  views: View[];
  photos: number;
  /** embeddings.bin is photos × views × 1280 bytes; value = byte × scale. */
  scale: number;
  /** Where each photo came from (paths inside the Grocery Store Dataset), in file order. */
  sources: string[];
}

export const BANK_MANIFEST_FILE = 'bank.json';
export const BANK_EMBEDDINGS_FILE = 'embeddings.bin';

/** The bank's embeddings as one byte each: ReLU6 outputs averaged over 7×7, so within [0, 6]. */
export function quantizeBank(embeddings: Float32Array): { bytes: Uint8Array; scale: number } {
  let max = 0;
  for (const v of embeddings) max = Math.max(max, v);
  const scale = max / 255 || 1;
  return { bytes: Uint8Array.from(embeddings, (v) => Math.round(v / scale)), scale };
}

/** The bank as loaded: its rows, and which class (bank-classes.txt name) each photo shows. */
export interface NegativeBank extends NegativeSet {
  classOfPhoto: string[];
  views: number;
}

/**
 * The bank for a base model, or null when it was made with another one (a job on a custom base model then trains
 * without it, and its metadata says so).
 */
export async function loadNegativeBank(baseModelSha256: string, dir = NEGATIVE_BANK_DIR): Promise<NegativeBank | null> {
  const manifest = JSON.parse(
    await fs.readFile(path.join(dir, BANK_MANIFEST_FILE), 'utf8').catch((err: NodeJS.ErrnoException) => {
      throw new Error(
        `the negative bank is missing from ${dir} (${err.code}): it ships with the project; reinstall, or copy that folder`,
      );
    }),
  ) as NegativeBankManifest;
  if (manifest.baseModelSha256 !== baseModelSha256) return null;
  const bytes = await fs.readFile(path.join(dir, BANK_EMBEDDINGS_FILE));
  const rows = manifest.photos * manifest.views.length;
  if (bytes.length !== rows * EMBEDDING_SIZE) {
    throw new Error(
      `${BANK_EMBEDDINGS_FILE} has ${bytes.length} bytes, ${BANK_MANIFEST_FILE} promises ${rows * EMBEDDING_SIZE}`,
    );
  }
  // In shared memory, as the head trainings read it in worker threads (see sharedFloat32Array).
  const shared = sharedUint8Array(bytes.length);
  shared.set(bytes);
  return {
    bytes: shared,
    scale: manifest.scale,
    photos: Int32Array.from({ length: rows }, (_, r) => Math.floor(r / manifest.views.length)),
    classOfPhoto: manifest.sources.map((source) => path.basename(path.dirname(source))),
    views: manifest.views.length,
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
    // The first view of every photo is its centre view.
    for (let photo = 0; photo < bank.classOfPhoto.length; photo++) {
      const from = photo * bank.views * EMBEDDING_SIZE;
      for (let j = 0; j < EMBEDDING_SIZE; j++) value[j] = bank.bytes[from + j] * bank.scale;
      add(names.indexOf(bank.classOfPhoto[photo]), value);
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
