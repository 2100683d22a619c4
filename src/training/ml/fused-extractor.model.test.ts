/** Model tests: the fused extractor embeds as the layers model does. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { before, describe, it } from 'node:test';
import { BASE_MODEL_JSON, ensureTestData, samplePhotos } from '../../../test/support/shared';
import { preprocessImage } from '../../dataset/preprocess';
import { loadTensorflow } from './backend';
import { EMBEDDING_LAYER } from './base-model';
import { embedPixels, loadFeatureExtractor } from './feature-extractor';
import { FusedFeatureExtractor } from './fused-extractor';
import { fuseLayersModel } from './fused-graph';
import { readModelArtifacts } from './model-files';
import { EMBEDDING_SIZE } from '../../config/model-shape';

describe('FusedFeatureExtractor', () => {
  before(ensureTestData);

  it('gives the embeddings of the exported layers model (Teachable Machine’s truncated MobileNet)', async () => {
    const { tf } = await loadTensorflow('auto');
    const layers = await loadFeatureExtractor(tf, BASE_MODEL_JSON);
    const fused = FusedFeatureExtractor.fromGraph(
      tf,
      fuseLayersModel(await readModelArtifacts(BASE_MODEL_JSON), EMBEDDING_LAYER),
    );
    const photos = samplePhotos().filter((_, i) => i % 8 === 0);
    const images = await Promise.all(photos.map(async (p) => (await preprocessImage(readFileSync(p))).pixels));
    const expected = embedPixels(tf, layers, images);
    const actual = embedPixels(tf, fused, images);
    assert.equal(actual.length, photos.length);
    let maxDifference = 0;
    let maxValue = 0;
    actual.forEach((embedding, i) => {
      assert.equal(embedding.length, EMBEDDING_SIZE);
      embedding.forEach((v, j) => {
        maxDifference = Math.max(maxDifference, Math.abs(v - expected[i][j]));
        maxValue = Math.max(maxValue, expected[i][j]);
      });
    });
    assert.ok(maxValue > 1, 'embeddings are not trivially zero');
    assert.ok(maxDifference < 1e-4, `max difference ${maxDifference}`);
    fused.dispose();
    layers.dispose();
  });
});
