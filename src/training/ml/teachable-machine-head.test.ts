/** Unit tests of the MLP head (Teachable Machine's recipe) on toy embeddings. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadTensorflow } from './backend';
import { toySet } from '../../../test/support/toy-embeddings';
import { headProbabilities } from './dense-head';
import { trainHead } from './head';
import { Adam, splitByPhoto, TEACHABLE_MACHINE_RECIPE, trainMlpHead } from './teachable-machine-head';
import { mulberry32, type TrainingSet } from './training-set';
import { EMBEDDING_SIZE } from '../../config/model-shape';

describe('MLP head training', () => {
  it('holds out whole photos per class (all their views), keeping at least one photo per class for training', () => {
    const set = toySet(3, 4);
    const { train, validation } = splitByPhoto(set, 0.15, 7);
    assert.equal(train.length + validation.length, set.labels.length);
    const heldPhotos = new Set(validation.map((r) => set.photos[r]));
    for (const r of train) assert.ok(!heldPhotos.has(set.photos[r]), 'a photo is on both sides of the split');
    for (let c = 0; c < 3; c++) {
      assert.equal(
        validation.filter((r) => set.labels[r] === c && set.plain[r]).length,
        1,
        'ceil(0.15 × 4) = 1 photo per class',
      );
    }
    const single = toySet(2, 1);
    assert.equal(splitByPhoto(single, 0.5, 1).validation.length, 0, 'a class with one photo keeps it for training');
  });

  it('learns separable classes, reports held-out metrics and is reproducible with a seed', async () => {
    const { tf } = await loadTensorflow('auto');
    const set = toySet(4, 8);
    const recipe = { ...TEACHABLE_MACHINE_RECIPE, epochs: 15, validationFraction: 0.25 };
    const epochs: number[] = [];
    const report = await trainMlpHead(tf, set, recipe, (epoch) => epochs.push(epoch));
    assert.deepEqual(
      epochs,
      Array.from({ length: 15 }, (_, i) => i + 1),
    );
    assert.equal(report.validationPhotos, 8);
    assert.ok(report.validationAccuracy! >= 0.99, `validation accuracy ${report.validationAccuracy}`);
    assert.equal(report.confusion.length, 4);
    assert.equal(
      report.confusion.flat().reduce((a, b) => a + b, 0),
      8,
    );
    assert.deepEqual(report.perClassAccuracy, [1, 1, 1, 1]);
    assert.equal(report.weights.hiddenKernel.length, EMBEDDING_SIZE * 100);
    assert.equal(report.weights.outputKernel.length, 100 * 4);
    for (let c = 0; c < 4; c++) {
      const probabilities = headProbabilities(
        report.weights,
        set.embeddings.subarray(c * 16 * EMBEDDING_SIZE, (c * 16 + 1) * EMBEDDING_SIZE),
      );
      assert.ok(Math.abs(probabilities.reduce((a, b) => a + b, 0) - 1) < 1e-5);
      assert.equal(probabilities.indexOf(Math.max(...probabilities)), c, 'output i is label i');
    }
    const again = await trainHead(tf, set, recipe);
    assert.deepEqual(again.weights.outputKernel, report.weights.outputKernel);
    const otherSeed = await trainMlpHead(tf, set, { ...recipe, seed: 7 });
    assert.notDeepEqual(otherSeed.weights.outputKernel, report.weights.outputKernel, 'the seed is used');
  });

  it('trains on every view of the photos it does not hold out, and only on them; holding none out reports no validation', async () => {
    const { tf } = await loadTensorflow('auto');
    const set = toySet(3, 6);
    const recipe = { ...TEACHABLE_MACHINE_RECIPE, epochs: 4, validationFraction: 0.3 };
    const held = await trainMlpHead(tf, set, recipe);
    assert.equal(held.validationPhotos, 3 * 2, 'ceil(0.3 × 6) = 2 photos per class');
    // The training rows alone (sharing the store), nothing held out: the same rows in the same seeded order.
    const { train } = splitByPhoto(set, recipe.validationFraction, recipe.seed);
    const alone: TrainingSet = {
      ...set,
      rows: Int32Array.from(train),
      labels: Int32Array.from(train, (r) => set.labels[r]),
      photos: Int32Array.from(train, (r) => set.photos[r]),
      plain: Uint8Array.from(train, (r) => set.plain[r]),
    };
    const all = await trainMlpHead(tf, alone, { ...recipe, validationFraction: 0 });
    assert.deepEqual(all.weights, held.weights);
    assert.equal(all.validationAccuracy, null);
    assert.equal(all.validationPhotos, 0);
    assert.deepEqual(all.perClassAccuracy, [null, null, null]);
    assert.deepEqual(all.confusion, []);
    // Each view its own plain photo: the same head, as an epoch shows every row whatever photo it is a view of.
    const viewsAsPhotos = await trainMlpHead(
      tf,
      { ...alone, photos: Int32Array.from(train.keys()), plain: new Uint8Array(train.length).fill(1) },
      { ...recipe, validationFraction: 0 },
    );
    assert.deepEqual(viewsAsPhotos.weights, all.weights);
  });

  it('updates weights bit for bit as tf.train.adam does, through moments that fall below float32’s normal range', async () => {
    const { tf } = await loadTensorflow('auto');
    const random = mulberry32(3);
    const start = Float32Array.from({ length: 2000 }, () => random() - 0.5);
    const ours = tf.variable(tf.tensor1d(start), true, 'adam-test/ours');
    const theirs = tf.variable(tf.tensor1d(start), true, 'adam-test/theirs');
    const adam = new Adam(tf, 0.002, [ours]);
    const reference = tf.train.adam(0.002);
    // Every other weight's gradient is zero after the first steps: its first moment shrinks into subnormals.
    for (let step = 1; step <= 1000; step++) {
      const gradient = tf.tensor1d(Float32Array.from(start, (_, i) => (i % 2 && step > 5 ? 0 : random() - 0.5)));
      adam.apply([gradient]);
      reference.applyGradients([{ name: theirs.name, tensor: gradient }]);
      gradient.dispose();
    }
    assert.deepEqual(ours.dataSync(), theirs.dataSync());
    adam.dispose();
    reference.dispose();
    tf.dispose([ours, theirs]);
  });
});
