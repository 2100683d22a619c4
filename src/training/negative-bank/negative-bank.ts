/**
 * The negative bank shipped with the project: embeddings of grocery products that no shop is measured on, for
 * outlier exposure (see ml/head.ts). Its classes are listed in bank-classes.txt beside this file.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { View } from '../../dataset/preprocess';
import { projectFile } from '../../common/project-files';
import { EMBEDDING_SIZE } from '../ml/feature-extractor';
import type { NegativeSet } from '../ml/head';

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

/**
 * The bank for a base model, or null when it was made with another one (a job on a custom base model then trains
 * without it, and its metadata says so).
 */
export async function loadNegativeBank(baseModelSha256: string, dir = NEGATIVE_BANK_DIR): Promise<NegativeSet | null> {
  const manifest = JSON.parse(await fs.readFile(path.join(dir, BANK_MANIFEST_FILE), 'utf8')) as NegativeBankManifest;
  if (manifest.baseModelSha256 !== baseModelSha256) return null;
  const bytes = await fs.readFile(path.join(dir, BANK_EMBEDDINGS_FILE));
  const rows = manifest.photos * manifest.views.length;
  if (bytes.length !== rows * EMBEDDING_SIZE) {
    throw new Error(`${BANK_EMBEDDINGS_FILE} has ${bytes.length} bytes, ${BANK_MANIFEST_FILE} promises ${rows * EMBEDDING_SIZE}`);
  }
  return {
    embeddings: Float32Array.from(bytes, (b) => b * manifest.scale),
    photos: Int32Array.from({ length: rows }, (_, r) => Math.floor(r / manifest.views.length)),
  };
}
