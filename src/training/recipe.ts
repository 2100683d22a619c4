import { createHash } from 'node:crypto';
import type { View } from '../dataset/preprocess';
import type { GateOptions } from './ml/gate';
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
  negativesPerEpoch: 300,
  negativeWeight: 1,
};

/** Cross-validation folds that choose the recognition gate (see recognition.ts). */
export const GATE_FOLDS = 4;

/**
 * The gate's options for a shop whose products have `photosPerProduct` usable photos (the median). The two
 * corrections turn cross-validation on the shop's own photos into what real scans, taken on other days, show; they
 * were fitted once on development shops (README, "How sure is the model?").
 */
export function gateOptions(
  photosPerProduct: number,
  targetFalseAccept: number,
  unknownShare: number,
): GateOptions {
  return {
    targetFalseAccept,
    unknownShare,
    // Fitted on 150 development shops (k = 5, 7, 10, 15, 20; 30 draws each): the shift that brings the mean
    // measured false accepts to about 1.8 %, and the ratio of measured to cross-validated correct accepts there.
    scaleShift: Math.min(0.74, 0.62 + 0.024 * Math.max(photosPerProduct - 5, 0)),
    correctAcceptCorrection: Math.max(0.33, 0.45 - 0.024 * Math.max(photosPerProduct - 5, 0)),
    minScale: 0.05,
    maxScale: 4,
  };
}

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
