/** Unit tests of the last check before a model is published: it computes the embeddings its head was fitted to. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EMBEDDING_SIZE } from '../common/model-shape';
import { EMBEDDING_AGREEMENT_TOLERANCE, embeddingDisagreement } from './self-check';

const embedding = (seed: number) => Float32Array.from({ length: EMBEDDING_SIZE }, (_, i) => ((i * seed) % 17) / 3);
const shifted = (e: Float32Array, at: number, by: number) => {
  const copy = e.slice();
  copy[at] += by;
  return copy;
};

describe('self-check: embeddings the head was fitted to against the model’s own', () => {
  const fitted = [embedding(1), embedding(2), embedding(3)];

  it('passes embeddings within the tolerance', () => {
    const computed = fitted.map((e, i) => shifted(e, i, EMBEDDING_AGREEMENT_TOLERANCE / 2));
    assert.equal(embeddingDisagreement(fitted, computed), null);
  });

  it('names the photo furthest past the tolerance', () => {
    const computed = [shifted(fitted[0], 5, 0.01), shifted(fitted[1], 0, -2), fitted[2]];
    assert.deepEqual(embeddingDisagreement(fitted, computed), { photo: 1, difference: 2 });
  });

  it('counts a value that is not a number as the worst, and skips a photo the model could not read', () => {
    const computed = [shifted(fitted[0], 5, 0.5), shifted(fitted[1], 0, NaN), null];
    const disagreement = embeddingDisagreement(fitted, computed);
    assert.equal(disagreement?.photo, 1);
    assert.ok(Number.isNaN(disagreement?.difference));
    assert.equal(embeddingDisagreement(fitted, [null, null, null]), null);
  });

  it('sees a zero-filled embedding (the outside probe’s poisoned cache)', () => {
    assert.equal(embeddingDisagreement([new Float32Array(EMBEDDING_SIZE)], [fitted[0]])?.photo, 0);
  });
});
