/** Unit tests of the last check before a model is published: it computes the embeddings its head was fitted to. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EMBEDDING_SIZE } from '../config/model-shape';
import { isFinal } from '../common/errors';
import { EMBEDDING_AGREEMENT_TOLERANCE, embeddingDisagreement, selfCheckRefusal } from './self-check';

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

  it('refuses the model: another attempt when cached embeddings were used, none when the engine itself disagrees', () => {
    const disagreement = { photo: 0, difference: 4.2985024 };
    const cached = selfCheckRefusal(disagreement, 'Avocado/1.jpg', { cachedViews: 200, views: 200 });
    assert.equal(isFinal(cached), false);
    assert.equal(
      cached.message,
      'the trained model does not compute the embeddings it was trained on: for photo Avocado/1.jpg they differ by up ' +
        'to 4.30 (allowed: 0.001), so its figures do not describe it, and it was not published; 200 of its 200 ' +
        "embeddings came from the embedding cache, whose entries for this training's photos were removed: another " +
        'attempt embeds them anew',
    );
    const fresh = selfCheckRefusal(disagreement, 'Avocado/1.jpg', { cachedViews: 0, views: 200 });
    assert.equal(isFinal(fresh), true);
    assert.match(
      fresh.message,
      /; none of them came from the embedding cache: .*set EMBEDDING_ENGINE=tfjs, or clear MODEL_CACHE_DIR\/onnx\)$/,
    );
  });
});
