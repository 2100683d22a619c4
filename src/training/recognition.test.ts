/** Unit tests of the gate's cross-validation folds and estimates. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { embeddingRow, type TrainingSet } from './ml/training-set';
import { crossValidationFolds, scaledHead } from './recognition';
import { EMBEDDING_SIZE } from '../config/model-shape';

/** `classes` products with `photos` photos each, two views a photo; embedding row r holds r in its first float. */
function shop(classes: number, photos: number): TrainingSet {
  const rows = classes * photos * 2;
  const embeddings = new Float32Array(rows * EMBEDDING_SIZE);
  for (let r = 0; r < rows; r++) embeddings[r * EMBEDDING_SIZE] = r;
  return {
    embeddings,
    labels: Int32Array.from({ length: rows }, (_, r) => Math.floor(r / (photos * 2))),
    photos: Int32Array.from({ length: rows }, (_, r) => Math.floor(r / 2)),
    plain: Uint8Array.from({ length: rows }, (_, r) => (r % 2 === 0 ? 1 : 0)),
    classCount: classes,
  };
}

describe('cross-validation folds for the gate', () => {
  it('leave a quarter of the products out as impostors and one photo of every other product out as a scan', () => {
    const data = shop(8, 5);
    const folds = crossValidationFolds(data, 4, 1);
    assert.equal(folds.length, 4);
    const impostorClasses = new Set<number>();
    for (const fold of folds) {
      assert.equal(fold.classes.length, 6);
      assert.equal(fold.set.classCount, 6);
      const trainedRows = new Set(
        Array.from({ length: fold.set.labels.length }, (_, i) => embeddingRow(fold.set, i)[0]),
      );
      const impostors = new Set(fold.impostorRows.map((r) => data.labels[r]));
      assert.equal(impostors.size, 2);
      impostors.forEach((c) => impostorClasses.add(c));
      for (const c of impostors) assert.ok(!fold.classes.includes(c), 'an impostor is not a product of its fold');
      assert.equal(fold.impostorRows.length, 2 * 5, 'every photo of an impostor is an unknown scan (plain view)');
      assert.equal(fold.knownRows.length, 6, 'one photo per known product');
      for (const row of [...fold.knownRows, ...fold.impostorRows]) {
        assert.equal(data.plain[row], 1);
        assert.ok(!trainedRows.has(row) && !trainedRows.has(row + 1), 'a scan’s photo (any view) is not trained on');
      }
      assert.equal(fold.set.labels.length, (6 * 5 - 6) * 2, 'the rest trains, both views');
      fold.set.labels.forEach((l, i) =>
        assert.equal(fold.classes[l], data.labels[embeddingRow(fold.set, i)[0]], 'labels renumbered'),
      );
      assert.equal(fold.set.embeddings, data.embeddings, 'the fold reads the shop’s store, not a copy');
    }
    assert.equal(impostorClasses.size, 8, 'every product is an impostor once');
  });

  it('keeps every photo of a product that has fewer than three', () => {
    const folds = crossValidationFolds(shop(4, 2), 4, 1);
    for (const fold of folds) assert.equal(fold.knownRows.length, 0);
    assert.equal(folds.length, 0, 'no fold without known scans');
  });

  it('bakes the gate in by scaling the output layer', () => {
    const weights = {
      hiddenUnits: 1,
      classCount: 2,
      hiddenKernel: new Float32Array(EMBEDDING_SIZE),
      hiddenBias: new Float32Array([1]),
      outputKernel: new Float32Array([2, -4]),
    };
    assert.deepEqual(Array.from(scaledHead(weights, 0.5).outputKernel), [1, -2]);
    assert.deepEqual(Array.from(weights.outputKernel), [2, -4], 'the trained weights are left as they are');
  });
});
