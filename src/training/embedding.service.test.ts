/** Unit tests of how embedded photos become the training set: failed photos left out, the store kept. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Dataset } from '../dataset/dataset.types';
import { embeddingRow } from './ml/training-set';
import { sharedFloat32Array } from './ml/vectors';
import { viewsForPhoto } from './recipe';
import { trainingSetOf } from './embedding.service';
import { EMBEDDING_SIZE } from '../config/model-shape';

const VIEWS = viewsForPhoto('0').length;

describe('the training set of embedded photos', () => {
  it('squeezes the failed photos out in place, every row keeping its photo, label and view', () => {
    const dataset: Dataset = {
      labels: [
        { id: 'a', name: 'A' },
        { id: 'b', name: 'B' },
      ],
      images: Array.from({ length: 6 }, (_, i) => ({ label: i % 2, name: `p${i}.jpg`, path: `/photos/p${i}.jpg` })),
      skipped: [],
      warnings: [],
    };
    const store = sharedFloat32Array(6 * VIEWS * EMBEDDING_SIZE);
    // Row (photo i, view v) holds 10·i + v in every float.
    for (let i = 0; i < 6; i++)
      for (let v = 0; v < VIEWS; v++)
        store.fill(10 * i + v, (i * VIEWS + v) * EMBEDDING_SIZE, (i * VIEWS + v + 1) * EMBEDDING_SIZE);
    const failures = new Map([
      [1, 'not a readable image'],
      [4, 'empty file'],
    ]);
    const { set, images, skipped } = trainingSetOf(dataset, store, failures);
    const keptPhotos = [0, 2, 3, 5];
    assert.deepEqual(
      images.map((i) => i.name),
      keptPhotos.map((i) => `p${i}.jpg`),
    );
    assert.deepEqual(skipped, [
      { label: 'b', name: 'p1.jpg', reason: 'not a readable image' },
      { label: 'a', name: 'p4.jpg', reason: 'empty file' },
    ]);
    assert.equal(set.labels.length, keptPhotos.length * VIEWS);
    keptPhotos.forEach((photo, p) => {
      for (let v = 0; v < VIEWS; v++) {
        const row = p * VIEWS + v;
        const embedding = embeddingRow(set, row);
        assert.ok(
          embedding.every((x) => x === 10 * photo + v),
          `row ${row} holds photo ${photo}, view ${v}`,
        );
        assert.equal(set.labels[row], photo % 2);
        assert.equal(set.photos[row], p);
        assert.equal(set.plain[row], v === 0 ? 1 : 0);
      }
    });
    assert.equal(set.embeddings.buffer, store.buffer, 'the set keeps the store (shared memory), no copy');
    assert.ok(set.embeddings.buffer instanceof SharedArrayBuffer);
  });
});
