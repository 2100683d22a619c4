/**
 * Lists of photos of a public dataset laid out as the Grocery Store Dataset is (`<split>/<…>/<class>/<file>.jpg`
 * inside its `dataset/` folder): the negative bank's definition and the demo's products are such lists.
 */
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';

/** The photos of a list, and the hash of the list (what a cache of their embeddings is keyed by). */
export interface PhotoList {
  photos: string[];
  sha256: string;
}

/** A path of a list: plain segments only, so it can only name a file inside the dataset's folder. */
const SAFE_PATH = /^[A-Za-z0-9_-]+(\/[A-Za-z0-9_.-]+)*\.jpg$/;

/** Reads a list: one photo path a line. */
export async function readPhotoList(file: string): Promise<PhotoList> {
  const text = await fs.readFile(file, 'utf8');
  const photos = text
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  const unsafe = photos.find((p) => !SAFE_PATH.test(p) || p.split('/').includes('..'));
  if (unsafe !== undefined) throw new Error(`${file} lists an unsafe photo path: ${JSON.stringify(unsafe)}`);
  if (!photos.length) throw new Error(`${file} lists no photo`);
  return { photos, sha256: createHash('sha256').update(photos.join('\n')).digest('hex') };
}

/** The class (product) a photo of the dataset shows: its folder's name. */
export function photoClass(photo: string): string {
  return path.posix.basename(path.posix.dirname(photo));
}
