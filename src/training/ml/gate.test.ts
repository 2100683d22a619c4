/** Unit tests of the recognition gate's choice. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { acceptScale, chooseGateScale, CLIENT_THRESHOLD, type GateOptions } from './gate';
import { softmax } from './dense-head';
import { mulberry32 } from './training-set';

const maxProbability = (logits: number[], scale: number) =>
  Math.max(...softmax(Float32Array.from(logits, (z) => z * scale)));

const OPTIONS: GateOptions = {
  targetFalseAccept: 0.02,
  unknownShare: 0.5,
  minCalibrationShare: 0,
  scaleShift: 1,
  falseAcceptCorrection: 1,
  correctAcceptCorrection: 1,
  fallbackScale: 0.3,
  minScale: 0.05,
  maxScale: 4,
};

describe('recognition gate', () => {
  it('finds the scale at which the client’s 0.9 rule starts to accept a scan', () => {
    const random = mulberry32(3);
    for (let trial = 0; trial < 50; trial++) {
      const logits = Array.from({ length: 2 + (trial % 30) }, () => random() * 10 - 5);
      const s = acceptScale(logits);
      assert.ok(Number.isFinite(s) && s > 0);
      assert.ok(maxProbability(logits, s) >= CLIENT_THRESHOLD - 1e-6, `accepted at ${s}`);
      assert.ok(maxProbability(logits, s * 0.999) < CLIENT_THRESHOLD, `not accepted just below ${s}`);
    }
    assert.equal(acceptScale([2, 2, 1]), Infinity, 'a tied top is never accepted');
  });

  it('picks the largest scale whose false accepts stay within the target, and estimates both rates', () => {
    // 100 known scans: 90 right (accepted from scale 0.5 + i/100), 10 wrong (from 3); 100 unknown (from 1 + i/50).
    const known = [
      ...Array.from({ length: 90 }, (_, i) => ({ scale: 0.5 + i / 100, correct: true })),
      ...Array.from({ length: 10 }, () => ({ scale: 3, correct: false })),
    ];
    const unknown = Array.from({ length: 100 }, (_, i) => 1 + i / 50);
    const gate = chooseGateScale(known, unknown, OPTIONS);
    // 2 % of the mix = 4 % of the unknown scans: the 4 accepted from 1, 1.02, 1.04, 1.06; the 5th starts at 1.08.
    assert.ok(gate.scale >= 1.06 && gate.scale < 1.08, `scale ${gate.scale}`);
    assert.equal(gate.estimatedFalseAccept, 0.02);
    assert.ok(Math.abs(gate.estimatedCorrectAccept! - 0.58) < 1e-9, `correct accepts ${gate.estimatedCorrectAccept}`);

    const stricter = chooseGateScale(known, unknown, { ...OPTIONS, targetFalseAccept: 0.005 });
    assert.ok(stricter.scale < gate.scale);
    const fewerUnknowns = chooseGateScale(known, unknown, { ...OPTIONS, unknownShare: 0.1 });
    assert.ok(fewerUnknowns.scale > gate.scale, 'fewer things the shop does not sell allow a surer model');

    // The shift: real scans at s behave as cross-validation's at s / shift.
    const shifted = chooseGateScale(known, unknown, {
      ...OPTIONS,
      scaleShift: 0.5,
      falseAcceptCorrection: 0.8,
      correctAcceptCorrection: 0.5,
    });
    assert.ok(Math.abs(shifted.scale - gate.scale * 0.5) < 1e-6);
    assert.ok(Math.abs(shifted.estimatedFalseAccept! - 0.016) < 1e-9);
    assert.ok(shifted.estimatedCorrectAccept! < gate.estimatedCorrectAccept! / 2);
  });

  it('keeps the scale within its bounds', () => {
    const known = [{ scale: 0.01, correct: true }];
    assert.equal(chooseGateScale(known, [50], OPTIONS).scale, OPTIONS.maxScale);
    assert.equal(chooseGateScale([{ scale: 1, correct: false }], [0.001], OPTIONS).scale, OPTIONS.minScale);
    for (const [known, unknown] of [
      [[], [1]],
      [[{ scale: 1, correct: true }], []],
    ] as const) {
      const fallback = chooseGateScale([...known], [...unknown], OPTIONS);
      assert.equal(fallback.scale, OPTIONS.fallbackScale, 'nothing to count: the cautious scale');
      assert.equal(fallback.estimatedCorrectAccept, null);
      assert.equal(fallback.estimatedFalseAccept, null);
    }
  });
});
