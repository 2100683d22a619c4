/** Unit tests of the linear head and its optimiser, on toy embeddings. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { toySet } from '../../../test/support/toy-embeddings';
import { EMBEDDING_SIZE } from '../../config/model-shape';
import { quantizeBank } from '../negative-bank/negative-bank';
import { loadTensorflow } from './backend';
import { headLogits, headProbabilities } from './dense-head';
import { minimizeLbfgs, DEFAULT_LBFGS_OPTIONS } from './lbfgs';
import { asDenseLayers, fitLinearHead, linearStart, startForClasses } from './linear-head';
import { TaskStoppedError } from './task-stop';
import { mulberry32, type TrainingSet } from './training-set';
import { argMax } from './vectors';
import { DEFAULT_RECIPE } from '../recipe';

/** The default recipe, tolerance 1e-9: these tests check convergence. */
const RECIPE = { ...DEFAULT_RECIPE, tolerance: 1e-9 };

/** The rows of `set` whose photo satisfies `keep`, as a set of their own (a copy of their embeddings). */
function rowsOf(set: TrainingSet, keep: (row: number) => boolean): TrainingSet {
  const rows = Array.from(set.labels.keys()).filter(keep);
  const embeddings = new Float32Array(rows.length * EMBEDDING_SIZE);
  rows.forEach((r, i) =>
    embeddings.set(set.embeddings.subarray(r * EMBEDDING_SIZE, (r + 1) * EMBEDDING_SIZE), i * EMBEDDING_SIZE),
  );
  return {
    embeddings,
    labels: Int32Array.from(rows, (r) => set.labels[r]),
    photos: Int32Array.from(rows, (r) => set.photos[r]),
    plain: Uint8Array.from(rows, (r) => set.plain[r]),
    classCount: set.classCount,
  };
}

const embeddingOf = (set: TrainingSet, row: number) =>
  set.embeddings.subarray(row * EMBEDDING_SIZE, (row + 1) * EMBEDDING_SIZE);

describe('L-BFGS', () => {
  it('minimises an ill-conditioned quadratic and the Rosenbrock function to their known minima', async () => {
    const n = 50;
    const scales = Float64Array.from({ length: n }, (_, i) => 100 ** (i / (n - 1)));
    const quadratic = await minimizeLbfgs(
      (x, g) => {
        let value = 0;
        for (let i = 0; i < n; i++) {
          const d = x[i] - (i + 1);
          value += 0.5 * scales[i] * d * d;
          g[i] = scales[i] * d;
        }
        return value;
      },
      new Float64Array(n),
      { ...DEFAULT_LBFGS_OPTIONS, gradientTolerance: 1e-8, relativeTolerance: 0 },
    );
    assert.equal(quadratic.stop, 'gradient', `${quadratic.iterations} iterations`);
    quadratic.x.forEach((v, i) => assert.ok(Math.abs(v - (i + 1)) < 1e-6, `x[${i}] = ${v}`));

    const rosenbrock = await minimizeLbfgs(
      (x, g) => {
        const [a, b] = x;
        g[0] = -2 * (1 - a) - 400 * a * (b - a * a);
        g[1] = 200 * (b - a * a);
        return (1 - a) ** 2 + 100 * (b - a * a) ** 2;
      },
      Float64Array.from([-1.2, 1]),
      { ...DEFAULT_LBFGS_OPTIONS, gradientTolerance: 1e-9, relativeTolerance: 0 },
    );
    assert.ok(Math.abs(rosenbrock.x[0] - 1) < 1e-5 && Math.abs(rosenbrock.x[1] - 1) < 1e-5, `${rosenbrock.x}`);
    assert.ok(rosenbrock.iterations < 100, `${rosenbrock.iterations} iterations`);
  });
});

describe('linear head', () => {
  it('is exported as two Dense layers that compute exactly x·W + b, for any input', () => {
    const random = mulberry32(5);
    const k = 3;
    const kernel = Float32Array.from({ length: EMBEDDING_SIZE * k }, () => random() - 0.5);
    const bias = Float32Array.from({ length: k }, () => random() * 4 - 2);
    const dense = asDenseLayers({ classCount: k, kernel, bias });
    assert.equal(dense.hiddenUnits, 2 * k);
    for (let trial = 0; trial < 5; trial++) {
      // Negative inputs too: the identity holds whatever the base model hands over.
      const x = Float32Array.from({ length: EMBEDDING_SIZE }, () => random() * 6 - 3);
      const expected = Array.from({ length: k }, (_, c) => {
        let z = bias[c];
        for (let j = 0; j < EMBEDDING_SIZE; j++) z += x[j] * kernel[j * k + c];
        return z;
      });
      const logits = headLogits(dense, x);
      for (let c = 0; c < k; c++) assert.ok(Math.abs(logits[c] - expected[c]) < 1e-3, `${logits[c]} ≠ ${expected[c]}`);
    }
  });

  it('names photos it did not train on, converges, and gives the same head for the same photos', async () => {
    const { tf } = await loadTensorflow('auto');
    const world = toySet(4, 8);
    const trained = rowsOf(world, (r) => world.photos[r] % 8 !== 0);
    const fractions: number[] = [];
    const fit = await fitLinearHead(tf, trained, RECIPE, { onProgress: (f) => fractions.push(f) });
    assert.ok(['gradient', 'progress'].includes(fit.stop), `stopped by ${fit.stop} after ${fit.iterations}`);
    assert.equal(fractions.length, fit.iterations);
    assert.ok(fractions.every((f, i) => f > 0 && f < 1 && (i === 0 || f > fractions[i - 1])));
    const heldOut = Array.from(world.labels.keys()).filter((r) => world.photos[r] % 8 === 0);
    for (const r of heldOut) assert.equal(argMax(headLogits(fit.weights, embeddingOf(world, r))), world.labels[r]);
    const again = await fitLinearHead(tf, trained, RECIPE);
    assert.deepEqual(again.weights.hiddenKernel, fit.weights.hiddenKernel);
    assert.deepEqual(again.weights.hiddenBias, fit.weights.hiddenBias);
  });

  it("starts a retrain from the last model's head: fewer iterations, the same head within the fit's tolerance", async () => {
    const { tf } = await loadTensorflow('auto');
    const world = toySet(6, 12);
    const recipe = { ...DEFAULT_RECIPE };
    // The last model was trained before the shop added two photos of every product.
    const last = await fitLinearHead(
      tf,
      rowsOf(world, (r) => world.photos[r] % 12 < 10),
      recipe,
    );
    const ids = ['a', 'b', 'c', 'd', 'e', 'f'];
    const cold = await fitLinearHead(tf, world, recipe);
    const warm = await fitLinearHead(tf, world, recipe, { start: linearStart(last.weights, ids, ids)! });
    assert.ok(warm.iterations < cold.iterations, `${warm.iterations} iterations warm, ${cold.iterations} cold`);
    assert.ok(Math.abs(warm.loss - cold.loss) < 1e-3 * cold.loss, `loss ${warm.loss} warm, ${cold.loss} cold`);
    for (let r = 0; r < world.labels.length; r++) {
      const a = headProbabilities(warm.weights, embeddingOf(world, r));
      const b = headProbabilities(cold.weights, embeddingOf(world, r));
      a.forEach((p, c) => assert.ok(Math.abs(p - b[c]) < 0.01, `row ${r} class ${c}: ${p} warm, ${b[c]} cold`));
    }
  });

  it('stops at the evaluation after it is asked to, with TaskStoppedError', async () => {
    const { tf } = await loadTensorflow('auto');
    let evaluations = 0;
    await assert.rejects(
      fitLinearHead(tf, toySet(4, 8), RECIPE, { stopped: () => ++evaluations > 3 }),
      TaskStoppedError,
    );
    assert.equal(evaluations, 4);
  });

  it("takes the start of a retrain from the last head by product, and a fold's from it by class", () => {
    const random = mulberry32(9);
    const k = 4;
    const kernel = Float32Array.from({ length: EMBEDDING_SIZE * k }, () => random() - 0.5);
    const bias = Float32Array.from({ length: k }, () => random());
    const last = asDenseLayers({ classCount: k, kernel, bias });
    // The shop dropped d and added e, and lists its products in another order.
    const start = linearStart(last, ['a', 'b', 'c', 'd'], ['b', 'c', 'e', 'a'])!;
    assert.deepEqual(Array.from(start.bias), [bias[1], bias[2], 0, bias[0]]);
    for (const j of [0, 700, EMBEDDING_SIZE - 1])
      assert.deepEqual(Array.from(start.kernel.subarray(j * 4, j * 4 + 4)), [
        kernel[j * k + 1],
        kernel[j * k + 2],
        0,
        kernel[j * k],
      ]);
    const fold = startForClasses(start, [3, 1]);
    assert.deepEqual(Array.from(fold.bias), [bias[0], bias[2]]);
    assert.deepEqual(Array.from(fold.kernel.subarray(2 * 700, 2 * 700 + 2)), [kernel[700 * k], kernel[700 * k + 2]]);
    // None from a head of another shape (the MLP's), nor from one that knew none of the products.
    assert.equal(linearStart({ ...last, hiddenUnits: 100 }, ['a', 'b', 'c', 'd'], ['a']), null);
    assert.equal(linearStart(last, ['a', 'b', 'c', 'd'], ['x', 'y']), null);
  });

  it('with outlier exposure, is unsure of things it was not taught and still names what it was', async (t) => {
    const { tf } = await loadTensorflow('auto');
    // Classes 0–3 are the shop's; 4–9 only ever appear as negatives (photos 0–3 of each) or as unseen scans (4–7).
    const world = toySet(10, 8, 3);
    const shop = { ...rowsOf(world, (r) => world.labels[r] < 4), classCount: 4 };
    const negatives = rowsOf(world, (r) => world.labels[r] >= 4 && world.photos[r] % 8 < 4);
    shop.negatives = { ...quantizeBank(negatives.embeddings), photos: negatives.photos };
    const unseen = rowsOf(world, (r) => world.labels[r] >= 4 && world.photos[r] % 8 >= 4 && world.plain[r] === 1);
    const surest = async (negativeWeight: number) => {
      // A light penalty, so that the head without the bank is as sure of everything as it can be.
      const { weights } = await fitLinearHead(tf, shop, { ...RECIPE, l2: 4e-3, negativeWeight });
      let unknown = 0;
      for (let r = 0; r < unseen.labels.length; r++)
        unknown += Math.max(...headProbabilities(weights, embeddingOf(unseen, r)));
      let right = 0;
      for (let r = 0; r < shop.labels.length; r++)
        if (argMax(headLogits(weights, embeddingOf(shop, r))) === shop.labels[r]) right++;
      return { unknown: unknown / unseen.labels.length, accuracy: right / shop.labels.length };
    };
    const plain = await surest(0);
    const exposed = await surest(1);
    t.diagnostic(`mean top probability on unseen products: ${exposed.unknown} exposed, ${plain.unknown} not`);
    assert.equal(exposed.accuracy, 1);
    // Four products: 0.25 is as unsure as the head can be.
    assert.ok(exposed.unknown < 0.3, `${exposed.unknown} exposed`);
    assert.ok(exposed.unknown < plain.unknown - 0.05, `${exposed.unknown} exposed, ${plain.unknown} not`);
  });
});
