import { createHash } from 'node:crypto';
import type { View } from '../dataset/preprocess';
import { TEACHABLE_MACHINE_RECIPE, type HeadRecipe } from './ml/head';

/**
 * The default training recipe, chosen on the grocery benchmark (`npm run bench`, figures in the README):
 * every photo is embedded as Teachable Machine sees it (`centre`) plus one augmented crop, and the head trains on all
 * photos, seeing one of the two views of each photo per epoch.
 */
export const DEFAULT_RECIPE: HeadRecipe = {
  ...TEACHABLE_MACHINE_RECIPE,
  epochs: 20,
  batchSize: 32,
  learningRate: 0.002,
  validationFraction: 0,
  oneViewPerEpoch: true,
};

/**
 * One of these tight crops is added to every photo; which one is fixed by the photo's hash, so a retrain finds the
 * embedding in the cache.
 */
export const AUGMENTATION_VIEWS: readonly View[] = ['zoom50', 'zoom50tl', 'zoom50tr', 'zoom50bl', 'zoom50br'];

/** The views embedded for a photo: the plain one first, then its augmentation. */
export function viewsForPhoto(imageSha256: string): View[] {
  const pick = parseInt(imageSha256.slice(0, 8), 16) % AUGMENTATION_VIEWS.length;
  return ['centre', AUGMENTATION_VIEWS[pick]];
}

/** sha256 of a photo's bytes, hex. */
export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}
