/** Unit tests of what the shop owner is told about the photos: look-alikes, too few photos, copies. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { lookAlikes, photoFindings } from './advice';
import { mulberry32, type TrainingSet } from './ml/training-set';
import { EMBEDDING_SIZE } from '../config/model-shape';

const LABELS = [
  { id: 'p1', name: 'Fanta 330 ml' },
  { id: 'p2', name: 'Fanta 1.5 l' },
  { id: 'p3', name: 'Soap' },
];

describe('advice for the shop owner', () => {
  it('names the products cross-validation confused, most confused first', () => {
    const pairs = lookAlikes(
      [
        { actual: 0, predicted: 1, photo: 3 },
        { actual: 1, predicted: 0, photo: 7 },
        { actual: 2, predicted: 0, photo: 9 },
      ],
      LABELS,
    );
    assert.deepEqual(
      pairs.map((p) => [p.products, p.confusions]),
      [
        [['p1', 'p2'], 2],
        [['p1', 'p3'], 1],
      ],
    );
    assert.deepEqual(pairs[0].names, ['Fanta 330 ml', 'Fanta 1.5 l']);
  });

  it('finds the products with few photos, and the photos that repeat another', () => {
    const random = mulberry32(5);
    // p1: 6 distinct photos; p2: 3 photos; p3: 6 photos, two of them copies of the first.
    const photos: { label: number; embedding: Float32Array }[] = [];
    const distinct = () => Float32Array.from({ length: EMBEDDING_SIZE }, () => random());
    for (let i = 0; i < 6; i++) photos.push({ label: 0, embedding: distinct() });
    for (let i = 0; i < 3; i++) photos.push({ label: 1, embedding: distinct() });
    const original = distinct();
    photos.push({ label: 2, embedding: original }, { label: 2, embedding: original.map((v) => v * 1.01) });
    photos.push({ label: 2, embedding: original });
    for (let i = 0; i < 3; i++) photos.push({ label: 2, embedding: distinct() });
    const data: TrainingSet = {
      embeddings: new Float32Array(photos.length * EMBEDDING_SIZE),
      labels: Int32Array.from(photos, (p) => p.label),
      photos: Int32Array.from(photos, (_, i) => i),
      plain: new Uint8Array(photos.length).fill(1),
      classCount: 3,
    };
    photos.forEach((p, i) => data.embeddings.set(p.embedding, i * EMBEDDING_SIZE));
    assert.deepEqual(photoFindings(data, LABELS), [
      { name: 'Fanta 1.5 l', usable: 3, copies: 0 },
      { name: 'Soap', usable: 6, copies: 2 },
    ]);
  });
});
