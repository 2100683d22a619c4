/** Unit tests of the exported model's format. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { confusionOf, DENSE_CONFUSION_MAX_PRODUCTS, metadataFor } from './teachable-machine-format';

describe('Teachable Machine format', () => {
  it("puts Teachable Machine's metadata fields first, then ours", () => {
    const trainedAt = new Date('2026-01-02T03:04:05Z');
    const metadata = metadataFor({
      trainingId: 'abc',
      trainedAt,
      modelName: 'shop',
      labels: ['p2', 'p1'],
      labelNames: ['Tea', 'Coffee'],
      imageCount: 12,
      tfjsVersion: '4.22.0',
      metrics: {
        validationAccuracy: 0.5,
        validationImages: 2,
        perClassAccuracy: { p2: 1, p1: 0 },
        confusionMatrix: [
          [1, 0],
          [1, 0],
        ],
        headIterations: 60,
        secondsPerStage: { embedding: 1 },
      },
      recognition: {
        threshold: 0.9,
        logitScale: 0.5,
        targetFalseAccept: 0.02,
        unknownShare: 0.5,
        estimatedCorrectAccept: 0.3,
        estimatedFalseAccept: 0.02,
        method: 'test',
        crossValidation: { folds: 4, knownScans: 8, unknownScans: 4, correctAccept: 0.5, falseAccept: 0.01 },
        negativeBank: null,
        lookAlikes: [],
        advice: [],
        tillScans: null,
      },
      quality: { headline: 'Two products.', explanation: 'Measured.', advice: ['Nothing.'] },
      baseModel: { url: 'file:///m/model.json', sha256: 'f00' },
      recipe: { l2: 0.1 },
      inputRange: 'tm',
    });
    assert.deepEqual(Object.keys(metadata).slice(0, 9), [
      'tfjsVersion',
      'tmVersion',
      'packageVersion',
      'packageName',
      'timeStamp',
      'userMetadata',
      'modelName',
      'labels',
      'imageSize',
    ]);
    assert.equal(metadata.packageName, '@teachablemachine/image');
    assert.equal(metadata.imageSize, 224);
    assert.deepEqual(metadata.labels, ['p2', 'p1']);
    assert.deepEqual(metadata.labelNames, ['Tea', 'Coffee']);
    assert.equal(metadata.productCount, 2);
    assert.equal(metadata.timeStamp, '2026-01-02T03:04:05.000Z');
    assert.deepEqual((metadata.preprocessing as { inputRange: number[] }).inputRange, [-1, 1]);
    assert.deepEqual(metadata.baseModel, { url: 'file:///m/model.json', sha256: 'f00' });
  });

  it('keeps the confusion dense up to 100 products and sparse past them, so metadata.json grows linearly', () => {
    const confusions = [
      { actual: 0, predicted: 1 },
      { actual: 0, predicted: 1 },
      { actual: 2, predicted: 0 },
    ];
    assert.deepEqual(confusionOf(['a', 'b', 'c'], [3, 4, 5], confusions).confusionMatrix, [
      [3, 2, 0],
      [0, 4, 0],
      [1, 0, 5],
    ]);
    const many = Array.from({ length: 500 }, (_, i) => `p${i}`);
    const sparse = confusionOf(many, new Array<number>(500).fill(3), confusions);
    assert.equal(sparse.confusionMatrix, null);
    assert.deepEqual(sparse.confusionPairs, [
      { actual: 'p0', predicted: 'p1', count: 2 },
      { actual: 'p2', predicted: 'p0', count: 1 },
    ]);
    assert.equal(DENSE_CONFUSION_MAX_PRODUCTS, 100);
    assert.ok(JSON.stringify(sparse).length < 200);
  });
});
