/**
 * The recognition gate, as plain functions: when may a client name a product? Both clients accept the top product
 * when its softmax probability is at least CLIENT_THRESHOLD, so the gate is baked into the model as a scale on the
 * head's logits (softmax(s·z)): a small s makes the model unsure, a large one confident. For every scan there is a
 * smallest scale at which it would be accepted; choosing s is then a matter of counting scans.
 */

import { argMax } from './vectors';

/** The shop's web app names a product when its probability is at least this (Teachable Machine's demos too). */
export const CLIENT_THRESHOLD = 0.9;

/**
 * The smallest scale s at which max softmax(s·logits) reaches `threshold`: Σ_{j≠top} exp(−s·(z_top − z_j)) falls
 * with s, so it is found by bisection. Infinity when the top is tied (no scale separates it).
 */
export function acceptScale(logits: ArrayLike<number>, threshold = CLIENT_THRESHOLD): number {
  const top = argMax(logits);
  const gaps: number[] = [];
  for (let j = 0; j < logits.length; j++) if (j !== top) gaps.push(logits[top] - logits[j]);
  if (!gaps.length) return 0;
  if (Math.min(...gaps) <= 0) return Infinity;
  const allowed = (1 - threshold) / threshold;
  const rest = (s: number) => gaps.reduce((sum, d) => sum + Math.exp(-s * d), 0);
  let low = 0;
  let high = 1;
  while (rest(high) > allowed) {
    low = high;
    high *= 2;
    if (high > 1e9) return Infinity;
  }
  for (let i = 0; i < 60; i++) {
    const mid = (low + high) / 2;
    if (rest(mid) > allowed) low = mid;
    else high = mid;
  }
  return high;
}

/** A scan of one of the shop's products, as cross-validation saw it. */
export interface KnownScan {
  /** acceptScale of the scan's logits. */
  scale: number;
  /** Whether the top product is the right one. */
  correct: boolean;
}

export interface GateOptions {
  /** Largest share of all scans that may be accepted as a wrong product. */
  targetFalseAccept: number;
  /** Share of scans expected to be of things the shop does not sell. */
  unknownShare: number;
  /**
   * The scale is chosen for a mix with at least this share of unknown scans (the shift then corrects it for the stated
   * share): cross-validation sees a few dozen scans of the shop's own products, too few to find where the last 2 %
   * of wrong names begin, while the impostors' scans, a few hundred, show that tail.
   */
  minCalibrationShare: number;
  /**
   * Real scans are taken on other days and in other light than the enrolment photos, and a model is surer of the
   * wrong things it sees there than cross-validation shows: a scale s on real scans accepts what s / scaleShift
   * accepts in cross-validation (measured, see recipe.ts).
   */
  scaleShift: number;
  /** Measured ratio of real false accepts to the cross-validated ones at scale / scaleShift (see recipe.ts). */
  falseAcceptCorrection: number;
  /** Measured ratio of real to cross-validated correct accepts at the chosen scale (see recipe.ts). */
  correctAcceptCorrection: number;
  /** The scale when cross-validation has nothing to count (every product has fewer than 3 photos, or the shop fewer than 3 products). */
  fallbackScale: number;
  /** Bounds of the scale, so that a gate chosen on few scans stays sane. */
  minScale: number;
  maxScale: number;
}

export interface GateChoice {
  scale: number;
  /**
   * Cross-validated shares at that scale, corrected: what the shop should expect at the till (null when
   * cross-validation had no scans to count: GateOptions.fallbackScale is used then).
   */
  estimatedCorrectAccept: number | null;
  estimatedFalseAccept: number | null;
  /** The same, as cross-validation measured them (before correction). */
  crossValidatedCorrectAccept: number | null;
  crossValidatedFalseAccept: number | null;
  knownScans: number;
  unknownScans: number;
}

/**
 * The largest scale whose false accepts in cross-validation stay within the target, times the shift measured for
 * real scans. False accepts are a mix: (1 − share) · wrong accepts among known scans + share · accepts among unknown
 * scans, with share = max(unknownShare, minCalibrationShare).
 */
export function chooseGateScale(known: KnownScan[], unknown: number[], options: GateOptions): GateChoice {
  if (!known.length || !unknown.length) {
    return {
      scale: options.fallbackScale,
      estimatedCorrectAccept: null,
      estimatedFalseAccept: null,
      crossValidatedCorrectAccept: null,
      crossValidatedFalseAccept: null,
      knownScans: known.length,
      unknownScans: unknown.length,
    };
  }
  const wrong = known.filter((s) => !s.correct).map((s) => s.scale);
  const right = known.filter((s) => s.correct).map((s) => s.scale);
  const falseAcceptAt = (scale: number, share = options.unknownShare) =>
    (1 - share) * (countAtMost(wrong, scale) / known.length) + share * (countAtMost(unknown, scale) / unknown.length);
  const budget = options.targetFalseAccept;
  const calibrationShare = Math.max(options.unknownShare, options.minCalibrationShare);
  // falseAcceptAt only grows with the scale: bisect on log(scale).
  let low = Math.log(options.minScale);
  let high = Math.log(options.maxScale);
  if (falseAcceptAt(Math.exp(high), calibrationShare) <= budget) low = high;
  else
    for (let i = 0; i < 50; i++) {
      const mid = (low + high) / 2;
      if (falseAcceptAt(Math.exp(mid), calibrationShare) <= budget) low = mid;
      else high = mid;
    }
  const scale = Math.min(options.maxScale, Math.max(options.minScale, Math.exp(low) * options.scaleShift));
  const crossValidatedFalseAccept = falseAcceptAt(scale);
  const crossValidatedCorrectAccept = countAtMost(right, scale) / known.length;
  return {
    scale,
    estimatedCorrectAccept: Math.min(1, crossValidatedCorrectAccept * options.correctAcceptCorrection),
    estimatedFalseAccept: falseAcceptAt(scale / options.scaleShift, calibrationShare) * options.falseAcceptCorrection,
    crossValidatedCorrectAccept,
    crossValidatedFalseAccept,
    knownScans: known.length,
    unknownScans: unknown.length,
  };
}

function countAtMost(values: number[], limit: number): number {
  let n = 0;
  for (const v of values) if (v <= limit) n++;
  return n;
}
