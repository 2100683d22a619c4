/** The tests' own base model: Teachable Machine's topology, seeded weights, and every mechanism runs on it. */
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { verifyModelFiles } from '../src/training/ml/base-model';
import { loadTensorflow } from '../src/training/ml/backend';
import { embedPixels, loadFeatureExtractor } from '../src/training/ml/feature-extractor';
import { BASE_MODEL_JSON } from './support/shared';
import { writeRandomBaseModel } from './support/random-base-model';

interface LayerJson {
  class_name: string;
  name: string;
  config: Record<string, unknown>;
  inbound_nodes: unknown[][][];
}
interface ModelJson {
  modelTopology: { config: { layers: LayerJson[]; input_layers: unknown; output_layers: unknown } };
  weightsManifest: { weights: { name: string; shape: number[]; dtype: string }[] }[];
}

/** What a layer computes: its type, name, inputs and the settings that shape its output. */
function layerShape(layer: LayerJson) {
  const keys = [
    'batch_input_shape',
    'filters',
    'kernel_size',
    'strides',
    'padding',
    'use_bias',
    'depth_multiplier',
    'activation',
    'max_value',
    'axis',
    'momentum',
    'epsilon',
  ];
  return {
    type: layer.class_name,
    name: layer.name,
    inputs: layer.inbound_nodes.map((node) => node.map((input) => input[0])),
    config: Object.fromEntries(keys.filter((k) => layer.config[k] !== undefined).map((k) => [k, layer.config[k]])),
  };
}

describe("the tests' random base model", () => {
  let tmp: string;
  let modelJsonPath: string;
  before(async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'random-base-model-'));
    modelJsonPath = await writeRandomBaseModel(path.join(tmp, 'a'), 7);
  });
  after(() => fs.rm(tmp, { recursive: true, force: true }));

  it("has Teachable Machine's MobileNet V2 0.35 topology, layer for layer, and its weights manifest", async () => {
    const read = async (file: string) => JSON.parse(await fs.readFile(file, 'utf8')) as ModelJson;
    const [ours, theirs] = await Promise.all([read(modelJsonPath), read(BASE_MODEL_JSON)]);
    assert.deepEqual(
      ours.modelTopology.config.layers.map(layerShape),
      theirs.modelTopology.config.layers.map(layerShape),
    );
    assert.deepEqual(ours.modelTopology.config.output_layers, theirs.modelTopology.config.output_layers);
    const specs = (m: ModelJson) =>
      new Map(m.weightsManifest.flatMap((g) => g.weights).map((w) => [w.name, `${w.dtype} ${w.shape.join('×')}`]));
    assert.deepEqual(specs(ours), specs(theirs));
  });

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
