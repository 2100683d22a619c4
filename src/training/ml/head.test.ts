/** Unit tests of head training by recipe kind: both heads score rows of a shared store as their exported form does. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { toySet } from '../../../test/support/toy-embeddings';
import { EMBEDDING_SIZE } from '../../config/model-shape';
import { loadTensorflow } from './backend';
import { headLogits } from './dense-head';
import { trainHead, type HeadRecipe } from './head';
import { TEACHABLE_MACHINE_RECIPE } from './teachable-machine-head';
import type { TrainingSet } from './training-set';
import { argMax } from './vectors';
import { DEFAULT_RECIPE } from '../recipe';

const RECIPES: HeadRecipe[] = [DEFAULT_RECIPE, { ...TEACHABLE_MACHINE_RECIPE, epochs: 5, validationFraction: 0 }];

describe('head training', () => {
  for (const recipe of RECIPES) {
    it(`(${recipe.kind}) trains on a set that shares its store with others and scores rows of that store it did not train on`, async () => {
      const { tf } = await loadTensorflow('auto');
      const whole = toySet(3, 6);
      const trained = Array.from(whole.labels.keys()).filter((r) => whole.photos[r] % 6 !== 0);
      const scans = Int32Array.from(whole.labels.keys()).filter((r) => whole.photos[r] % 6 === 0 && whole.plain[r]);
      const fold: TrainingSet = {
        ...whole,
        rows: Int32Array.from(trained),
        labels: Int32Array.from(trained, (r) => whole.labels[r]),
        photos: Int32Array.from(trained, (r) => whole.photos[r]),
        plain: Uint8Array.from(trained, (r) => whole.plain[r]),
      };
      const progress: number[] = [];
      const report = await trainHead(tf, fold, recipe, {
        onProgress: (fraction) => progress.push(fraction),
        scanRows: scans,
      });
      assert.ok(progress.length > 0 && progress.every((f) => f > 0 && f <= 1), `progress ${progress}`);
      assert.equal(report.scanLogits!.length, scans.length * 3);
      scans.forEach((row, i) => {
        const expected = headLogits(
          report.weights,
          whole.embeddings.subarray(row * EMBEDDING_SIZE, (row + 1) * EMBEDDING_SIZE),
        );
        for (let c = 0; c < 3; c++) assert.ok(Math.abs(report.scanLogits![i * 3 + c] - expected[c]) < 1e-3);
        assert.equal(argMax(expected), whole.labels[row], 'a held-out photo named right');
      });
      const own = new Float32Array(trained.length * EMBEDDING_SIZE);
      trained.forEach((r, i) =>
        own.set(whole.embeddings.subarray(r * EMBEDDING_SIZE, (r + 1) * EMBEDDING_SIZE), i * EMBEDDING_SIZE),
      );
      const same = await trainHead(tf, { ...fold, embeddings: own, rows: undefined }, recipe);
      assert.deepEqual(same.weights.outputKernel, report.weights.outputKernel, 'the same rows give the same head');
      assert.deepEqual(same.weights.hiddenKernel, report.weights.hiddenKernel, 'the same rows give the same head');
    });
  }
});
