/** The default training recipe (views, head, gate), chosen on the grocery benchmark. */
import { createHash } from 'node:crypto';
import type { View } from '../dataset/preprocess';
import { TEACHABLE_MACHINE_RECIPE, type GateOptions, type HeadRecipe } from './ml';

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
  logitNormTemperature: 0.04,
};

/** Cross-validation folds that choose the recognition gate (see recognition.ts). */
export const GATE_FOLDS = 4;

/**
 * The gate's options for a shop whose products have `photosPerProduct` usable photos (the median). The two
 * corrections turn cross-validation on the shop's own photos into what real scans, taken on other days, show; they
 * were fitted once on development shops (README, "How sure is the model?").
 */
export function gateOptions(photosPerProduct: number, targetFalseAccept: number, unknownShare: number): GateOptions {
  return {
    targetFalseAccept,
    unknownShare,
    // Fitted on 160 development shops (k = 5, 10, 20: 30 draws each, k = 7: 20, k = 15: 50; val draws 101-150,
    // apart from the benchmark's 1-10): the shift that brings the mean measured false accepts at a 2 % target to
    // about 1.6 % (a margin for other shops; capped where k = 15 needed less), the ratio of measured false accepts
    // to the target there, and that of measured to cross-validated correct accepts.
    scaleShift: Math.min(0.88, 0.565 + 0.1225 * Math.log(Math.max(photosPerProduct, 2))),
    falseAcceptCorrection: 0.8,
    correctAcceptCorrection: Math.max(0.27, 0.42 - 0.045 * Math.max(photosPerProduct - 5, 0)),
    // About half the gate of measured shops with 5 photos per product.
    fallbackScale: 1,
    minScale: 0.05,
    maxScale: 100,
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
