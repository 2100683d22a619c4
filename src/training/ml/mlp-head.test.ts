/** Unit tests of the MLP head (Teachable Machine's recipe) on toy embeddings. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { quantizeBank } from '../negative-bank/negative-bank';
import { loadTensorflow } from './backend';
import { toySet } from '../../../test/support/toy-embeddings';
import { headProbabilities } from './dense-head';
import { trainHead } from './head';
import { Adam, splitByPhoto, TEACHABLE_MACHINE_RECIPE, trainMlpHead } from './mlp-head';
import { mulberry32, type TrainingSet } from './training-set';
import { EMBEDDING_SIZE } from '../../common/model-shape';

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
    const recipe = { ...TEACHABLE_MACHINE_RECIPE, epochs: 15, validationFraction: 0.25, keepBestEpoch: true };
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

  it('refits on all photos for the chosen number of epochs', async () => {
    const { tf } = await loadTensorflow('auto');
    const report = await trainMlpHead(tf, toySet(3, 6), {
      ...TEACHABLE_MACHINE_RECIPE,
      epochs: 6,
      validationFraction: 0.2,
      keepBestEpoch: true,
      refitOnAll: true,
    });
    assert.ok(report.epochsUsed >= 1 && report.epochsUsed <= 6);
    assert.equal(report.epochsRun, 6 + report.epochsUsed);
  });

  it('with outlier exposure, is unsure of things it was not taught and still names what it was', async (t) => {
    const { tf } = await loadTensorflow('auto');
    // Classes 0–3 are the shop's; 4–9 only ever appear as negatives (photos 0–3 of each) or as unseen scans (4–7).
    const world = toySet(10, 8, 3);
    const rowsOf = (predicate: (label: number, photoInClass: number, row: number) => boolean) =>
      Array.from(world.labels.keys()).filter((r) => predicate(world.labels[r], world.photos[r] % 8, r));
    const take = (rows: number[]) => {
      const embeddings = new Float32Array(rows.length * EMBEDDING_SIZE);
      rows.forEach((r, i) =>
        embeddings.set(world.embeddings.subarray(r * EMBEDDING_SIZE, (r + 1) * EMBEDDING_SIZE), i * EMBEDDING_SIZE),
      );
      return embeddings;
    };
    const shopRows = rowsOf((label) => label < 4);
    const negativeRows = rowsOf((label, p) => label >= 4 && p < 4);
    const unseen = rowsOf((label, p, r) => label >= 4 && p >= 4 && world.plain[r] === 1);
    const shop: TrainingSet = {
      embeddings: take(shopRows),
      labels: Int32Array.from(shopRows, (r) => world.labels[r]),
      photos: Int32Array.from(shopRows, (r) => world.photos[r]),
      plain: Uint8Array.from(shopRows, (r) => world.plain[r]),
      classCount: 4,
      negatives: { ...quantizeBank(take(negativeRows)), photos: Int32Array.from(negativeRows, (r) => world.photos[r]) },
    };
    const recipe = {
      ...TEACHABLE_MACHINE_RECIPE,
      validationFraction: 0,
      epochs: 20,
      learningRate: 0.002,
      batchSize: 32,
    };
    const surest = async (negativesPerEpoch: number, negativeWeight: number) => {
      const { weights } = await trainHead(tf, shop, { ...recipe, negativesPerEpoch, negativeWeight });
      const unseenTop = take(unseen);
      let unknown = 0;
      for (let i = 0; i < unseen.length; i++)
        unknown += Math.max(
          ...headProbabilities(weights, unseenTop.subarray(i * EMBEDDING_SIZE, (i + 1) * EMBEDDING_SIZE)),
        );
      let right = 0;
      shopRows.forEach((r, i) => {
        const p = headProbabilities(weights, shop.embeddings.subarray(i * EMBEDDING_SIZE, (i + 1) * EMBEDDING_SIZE));
        if (p.indexOf(Math.max(...p)) === world.labels[r]) right++;
      });
      return { unknown: unknown / unseen.length, accuracy: right / shopRows.length };
    };
    const plain = await surest(0, 0);
    const exposed = await surest(24, 1);
    t.diagnostic(
      `mean top probability on unseen products: ${exposed.unknown} with outlier exposure, ${plain.unknown} without`,
    );
    assert.ok(exposed.accuracy >= 0.99, `shop accuracy with outlier exposure ${exposed.accuracy}`);
    assert.ok(
      exposed.unknown < plain.unknown - 0.2,
      `mean top probability on unseen products: ${exposed.unknown} with outlier exposure, ${plain.unknown} without`,
    );
  });
});
