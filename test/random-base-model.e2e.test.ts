/**
 * The tests' own base model: seeded, and its embeddings are not trivial (test/data/real-data.data.test.ts checks its
 * topology against the real model's).
 */
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { verifyModelFiles } from '../src/training/ml/base-model';
import { loadTensorflow } from '../src/training/ml/backend';
import { embedPixels, loadFeatureExtractor } from '../src/training/ml/feature-extractor';
import { writeRandomBaseModel } from './support/random-base-model';

interface ModelJson {
  weightsManifest: { weights: { name: string }[] }[];
}

describe("the tests' random base model", () => {
  let tmp: string;
  let modelJsonPath: string;
  before(async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'random-base-model-'));
    modelJsonPath = await writeRandomBaseModel(path.join(tmp, 'a'), 7);
  });
  after(() => fs.rm(tmp, { recursive: true, force: true }));

  it('is the same for the same seed, and another for another seed', async () => {
    const again = await writeRandomBaseModel(path.join(tmp, 'b'), 7);
    const other = await writeRandomBaseModel(path.join(tmp, 'c'), 8);
    const hash = await verifyModelFiles(modelJsonPath);
    assert.equal(await verifyModelFiles(again), hash);
    assert.notEqual(await verifyModelFiles(other), hash);
    const names = async (file: string) =>
      (JSON.parse(await fs.readFile(file, 'utf8')) as ModelJson).weightsManifest.flatMap((g) =>
        g.weights.map((w) => w.name),
      );
    assert.deepEqual(await names(other), await names(modelJsonPath), 'the weights keep their names in a second model');
  });

  it('gives embeddings that vary with the photo and are not trivially zero', async () => {
    const { tf } = await loadTensorflow('auto');
    const extractor = await loadFeatureExtractor(tf, modelJsonPath);
    const pixels = [0.2, 0.8].map((level) =>
      Float32Array.from({ length: 224 * 224 * 3 }, (_, i) => (i % 3 === 0 ? level : (i % 7) / 7) * 2 - 1),
    );
    const [a, b] = embedPixels(tf, extractor, pixels);
    assert.equal(a.length, 1280);
    assert.ok(Math.max(...a) > 0.5, `largest value ${Math.max(...a)}`);
    assert.ok(
      a.some((v, i) => Math.abs(v - b[i]) > 1e-3),
      'two different photos give two embeddings',
    );
  });
});
