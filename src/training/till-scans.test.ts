/** Unit tests of learning from the till's confirmed scans: the rows they add, the cross-fitting, the figures. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EMBEDDING_SIZE } from '../config/model-shape';
import { embeddingRow, type HeadTrainingReport, type TrainHead, type TrainingSet } from './ml';
import {
  compareWithPrevious,
  crossFitScans,
  measuredUnknownShare,
  measureOnScans,
  scanHalves,
  upperBound95,
  withScans,
  type ConfirmedScan,
} from './till-scans';

/**
 * A store of `photoRows` photo rows (2 classes, two views a photo) then `scanRows` scan rows; row r holds r + 1 in its
 * first float (so no row is all zeros).
 */
function storeWith(photoRows: number, scanRows: number) {
  const store = new Float32Array((photoRows + scanRows) * EMBEDDING_SIZE);
  for (let r = 0; r < photoRows + scanRows; r++) store[r * EMBEDDING_SIZE] = r + 1;
  const photos: TrainingSet = {
    embeddings: store.subarray(0, photoRows * EMBEDDING_SIZE),
    labels: Int32Array.from({ length: photoRows }, (_, r) => (r < photoRows / 2 ? 0 : 1)),
    photos: Int32Array.from({ length: photoRows }, (_, r) => r >> 1),
    plain: Uint8Array.from({ length: photoRows }, (_, r) => (r % 2 ? 0 : 1)),
    classCount: 2,
    negatives: { bytes: new Uint8Array(EMBEDDING_SIZE).fill(2), scale: 0.5, photos: Int32Array.from([0]) },
  };
  return { store, photos };
}

/** Scan i takes store rows photoRows + 2i (centre) and + 2i + 1. */
const scan = (photoRows: number, i: number, label: number): ConfirmedScan => ({
  rows: [photoRows + 2 * i, photoRows + 2 * i + 1],
  label,
  takenAt: null,
});

describe("the till's confirmed scans", () => {
  it('train as rows of their product (every view) and, confirmed as none, beside the negatives (centre view)', () => {
    const { store, photos } = storeWith(8, 6);
    const scans = [scan(8, 0, 1), scan(8, 1, -1), scan(8, 2, 0)];
    const set = withScans(photos, store, scans);
    assert.equal(set.embeddings, store, 'reads the one store, no copy');
    assert.deepEqual(
      Array.from({ length: set.labels.length }, (_, r) => embeddingRow(set, r)[0]),
      [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 13, 14],
      "the photos' rows, then the two scans of products, both views",
    );
    assert.deepEqual(Array.from(set.labels.slice(8)), [1, 1, 0, 0]);
    assert.deepEqual(Array.from(set.plain.slice(8)), [1, 0, 1, 0], 'the centre view is the plain row');
    assert.deepEqual(Array.from(set.photos.slice(8)), [4, 4, 5, 5], 'each scan is a photo of its own');
    const negatives = set.negatives!;
    assert.equal(negatives.photos.length, 2, 'the bank photo and the scan confirmed as none');
    assert.ok(Math.abs(negatives.bytes[0] * negatives.scale - 1) < negatives.scale, "the bank's value 2 × 0.5 kept");
    assert.ok(Math.abs(negatives.bytes[EMBEDDING_SIZE] * negatives.scale - 11) < negatives.scale, 'row 10 (value 11)');
    assert.equal(withScans(photos, store, [scan(8, 0, 1)]).negatives, photos.negatives, 'no none: the bank as is');
  });

  it('are halved every other scan of each product, so each half holds about half of each', () => {
    const scans = [0, 0, 0, 1, 1, -1, -1, -1, -1].map((label, i) => scan(0, i, label));
    const [a, b] = scanHalves(scans);
    assert.deepEqual(
      a.map((s) => s.label),
      [0, 0, 1, -1, -1],
    );
    assert.deepEqual(
      b.map((s) => s.label),
      [0, 1, -1, -1],
    );
  });

  it('are each scored by a head that did not train on them, and the head kept trains on all', async () => {
    const { store, photos } = storeWith(8, 8);
    const scans = [scan(8, 0, 0), scan(8, 1, 0), scan(8, 2, 1), scan(8, 3, -1)];
    const trainings: { rows: number[]; negatives: number; scored: number[] }[] = [];
    // A fake head: class 0's logit is the row's value; the scan rows it scores show what it was given.
    const train: TrainHead = async (data, _recipe, scanRows) => {
      trainings.push({
        rows: Array.from({ length: data.labels.length }, (_, r) => embeddingRow(data, r)[0] - 1),
        negatives: data.negatives?.photos.length ?? 0,
        scored: Array.from(scanRows ?? []),
      });
      const logits = Float32Array.from(Array.from(scanRows ?? []).flatMap((row) => [row === 8 ? 10 : 0, 5]));
      return { weights: undefined as never, iterations: 1, scanLogits: logits } satisfies HeadTrainingReport;
    };
    const { heldOut } = await crossFitScans(photos, store, scans, { kind: 'linear' } as never, train);
    const [whole, first, second] = trainings;
    assert.deepEqual(whole.rows.slice(8), [8, 9, 10, 11, 12, 13], 'all scans of products, both views');
    assert.equal(whole.negatives, 2, 'the bank photo and the scan confirmed as none');
    // Halves: scans 0, 2 and 3 (the first of each label), and scan 1.
    assert.deepEqual(first.rows.slice(8), [8, 9, 12, 13]);
    assert.equal(first.negatives, 2);
    assert.deepEqual(first.scored, [10], "scores the other half's centre views");
    assert.deepEqual(second.rows.slice(8), [10, 11]);
    assert.equal(second.negatives, 1);
    assert.deepEqual(second.scored, [8, 12, 14]);
    assert.deepEqual(
      heldOut.map((s) => s.correct),
      [true, false, true, null],
      'in the order of the scans: scan 1 named as product 1, scans 0 and 2 as their own, scan 3 confirmed as none',
    );
    assert.ok(heldOut.every((s) => Number.isFinite(s.scale)));
  });

  it('give the share of unknown scans only when some were confirmed as none', () => {
    assert.equal(measuredUnknownShare([scan(0, 0, 1), scan(0, 1, -1), scan(0, 2, 0), scan(0, 3, 0)]), 0.25);
    assert.equal(measuredUnknownShare([scan(0, 0, 1)]), null);
  });

  it('count what the model names right and wrong at its gate', () => {
    const figures = measureOnScans(
      [
        { scale: 1, correct: true },
        { scale: 0.5, correct: null },
        { scale: 3, correct: true },
        { scale: 1, correct: false },
        { scale: 4, correct: null },
        { scale: 5, correct: false },
      ],
      2,
      0.3,
    );
    assert.deepEqual(figures, {
      known: 4,
      namedRight: 1,
      namedWrongKnown: 1,
      none: 2,
      namedNone: 1,
      unknownShare: 0.3,
    });
  });

  it('bound the share named wrongly (95 % Wilson interval)', () => {
    assert.equal(upperBound95(0, 0), 1);
    assert.ok(Math.abs(upperBound95(0, 100) - 0.037) < 0.001, String(upperBound95(0, 100)));
    assert.ok(Math.abs(upperBound95(1, 100) - 0.0545) < 0.001, String(upperBound95(1, 100)));
    assert.ok(Math.abs(upperBound95(0, 27) - 0.1246) < 0.001, String(upperBound95(0, 27)));
  });

  it('compare the new model with the one the till ran, on the scans taken since it was trained', () => {
    // Scan i is store row i; its first two floats say what the previous head sees.
    const looks = [
      [1, 0],
      [1, 0],
      [0, 1],
      [1, 0],
      [0, 0],
    ];
    const store = new Float32Array(looks.length * EMBEDDING_SIZE);
    looks.forEach(([x0, x1], i) => store.set([x0, x1], i * EMBEDDING_SIZE));
    // The previous head: unit 0 is 10·x0 and names "a", unit 1 is 10·x1 and names "b".
    const hiddenKernel = new Float32Array(EMBEDDING_SIZE * 2);
    hiddenKernel[0] = 10;
    hiddenKernel[1 * 2 + 1] = 10;
    const previous = {
      trainingId: 't-1',
      trainedAt: new Date('2026-12-01T00:00:00Z'),
      labels: ['a', 'b'],
      head: {
        hiddenUnits: 2,
        classCount: 2,
        hiddenKernel,
        hiddenBias: new Float32Array(2),
        outputKernel: Float32Array.from([1, 0, 0, 1]),
      },
    };
    const after = Date.parse('2026-12-02T00:00:00Z');
    const before = Date.parse('2026-11-30T00:00:00Z');
    // The new model numbers its products the other way round: 0 is "b", 1 is "a".
    const seen = [
      { label: 1, takenAt: after, score: { scale: 0.5, correct: true } },
      { label: 0, takenAt: after, score: { scale: 0.8, correct: true } },
      { label: -1, takenAt: after, score: { scale: 0.2, correct: null } },
      { label: 0, takenAt: before, score: { scale: 0.1, correct: true } },
      { label: 1, takenAt: after, score: { scale: 0.1, correct: false } },
      { label: 1, takenAt: null, score: { scale: 0.1, correct: true } },
    ];
    const scans = seen.map((s, i) => ({ rows: [Math.min(i, 4)], label: s.label, takenAt: s.takenAt }));
    const scores = seen.map((s) => s.score);
    const since = compareWithPrevious(previous, ['b', 'a'], scans, scores, store, 1, 0.2)!;
    assert.equal(since.trainingId, 't-1');
    assert.deepEqual(
      since.thisModel,
      { known: 3, namedRight: 2, namedWrongKnown: 1, none: 1, namedNone: 1, unknownShare: 0.2 },
      'scans 0, 1, 2 and 4: taken after the previous model',
    );
    assert.deepEqual(since.previousModel, {
      known: 3,
      namedRight: 1,
      namedWrongKnown: 1,
      none: 1,
      namedNone: 1,
      unknownShare: 0.2,
    });
    assert.equal(
      compareWithPrevious(previous, ['b', 'a'], scans.slice(3, 4), scores.slice(3, 4), store, 1, 0.2),
      null,
      'no scan since: nothing to compare',
    );
  });
});
