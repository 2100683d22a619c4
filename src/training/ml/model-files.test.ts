/** Unit tests of a layers model's files. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { modelJsonFor } from './model-files';

describe('layers model files', () => {
  it('writes one weights manifest group pointing at weights.bin', () => {
    const json = JSON.parse(
      modelJsonFor(
        {
          modelTopology: { class_name: 'Sequential' },
          weightSpecs: [{ name: 'dense/kernel', shape: [2, 3], dtype: 'float32' }],
          weightData: new ArrayBuffer(24),
          format: 'layers-model',
          generatedBy: 'TensorFlow.js tfjs-layers v4.22.0',
        },
        'weights.bin',
      ),
    );
    assert.deepEqual(json.weightsManifest, [
      { paths: ['weights.bin'], weights: [{ name: 'dense/kernel', shape: [2, 3], dtype: 'float32' }] },
    ]);
    assert.equal(json.format, 'layers-model');
    assert.deepEqual(json.modelTopology, { class_name: 'Sequential' });
  });
});
