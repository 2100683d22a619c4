/** Unit tests of reading a published model's head back from its files, and keeping it as a channel's last model. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EMBEDDING_SIZE } from '../config/model-shape';
import { channelModelRow, previousModelOfRow, type ChannelModel } from '../jobs/channel-model.entity';
import { headOfPublishedModel } from './published-head';

/** model.json and weights.bin as the export lays them out: base weights (rank 4 and 1) around the head's. */
function modelFiles(h: number, k: number) {
  const weights = [
    { name: 'Conv1/kernel', shape: [3, 3, 3, 16], dtype: 'float32' },
    { name: 'dense_Dense7/kernel', shape: [EMBEDDING_SIZE, h], dtype: 'float32' },
    { name: 'dense_Dense7/bias', shape: [h], dtype: 'float32' },
    { name: 'dense_Dense8/kernel', shape: [h, k], dtype: 'float32' },
    { name: 'Conv_1_bn/moving_mean', shape: [EMBEDDING_SIZE], dtype: 'float32' },
  ];
  const sizes = weights.map((w) => w.shape.reduce((a, b) => a * b, 1));
  // Each weight's values are its index (1, 2, …) plus a running count, so a wrong offset shows.
  const values = new Float32Array(sizes.reduce((a, b) => a + b, 0));
  let at = 0;
  sizes.forEach((n, w) => {
    for (let i = 0; i < n; i++) values[at + i] = w * 1000 + (i % 997);
    at += n;
  });
  const modelJson = Buffer.from(JSON.stringify({ weightsManifest: [{ paths: ['weights.bin'], weights }] }));
  const metadata = Buffer.from(
    JSON.stringify({ labels: ['a', 'b', 'c'].slice(0, k), trainingId: 't-7', timeStamp: '2026-12-01T09:30:00.000Z' }),
  );
  return { modelJson, weightsFile: new Uint8Array(values.buffer), metadata };
}

describe("a published model's head", () => {
  it('is read from the two Dense layers, wherever the manifest lists them, with its labels and time', () => {
    const model = headOfPublishedModel(modelFiles(6, 3));
    assert.equal(model.trainingId, 't-7');
    assert.equal(model.trainedAt.toISOString(), '2026-12-01T09:30:00.000Z');
    assert.deepEqual(model.labels, ['a', 'b', 'c']);
    assert.equal(model.head.hiddenUnits, 6);
    assert.equal(model.head.classCount, 3);
    assert.equal(model.head.hiddenKernel.length, EMBEDDING_SIZE * 6);
    assert.equal(model.head.hiddenKernel[0], 1000);
    assert.deepEqual(Array.from(model.head.hiddenBias), [2000, 2001, 2002, 2003, 2004, 2005]);
    assert.equal(model.head.outputKernel.length, 18);
    assert.equal(model.head.outputKernel[17], 3017);
  });

  it('refuses files of another shape', () => {
    const files = modelFiles(6, 3);
    assert.throws(
      () => headOfPublishedModel({ ...files, weightsFile: files.weightsFile.subarray(4) }),
      /weights\.bin holds/,
    );
    const twoLabels = Buffer.from(JSON.stringify({ labels: ['a', 'b'], trainingId: 't', timeStamp: 'x' }));
    assert.throws(() => headOfPublishedModel({ ...files, metadata: twoLabels }), /no head of this service's shape/);
  });

  it("is kept as the channel's last model and read back the same", () => {
    const model = headOfPublishedModel(modelFiles(6, 3));
    const row = { ...channelModelRow('c1', model), updatedAt: new Date() } as ChannelModel;
    assert.equal(row.head.byteLength, 4 * (EMBEDDING_SIZE * 6 + 6 + 18));
    assert.deepEqual(previousModelOfRow(row), model);
    assert.equal(previousModelOfRow({ ...row, hiddenUnits: 5 }), null, 'sizes that do not add up are no model');
  });
});
