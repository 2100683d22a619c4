/**
 * `npm run test:data`: what holds only on the real base model and photos (../shared: Teachable Machine's MobileNet V2
 * 0.35 and the Grocery Store Dataset), which `npm test` does not have: the model's identity, the tests' random model's
 * likeness to it, and that a shop's model recognises other-day photos, trained against the negative bank.
 */
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { TestingModule } from '@nestjs/testing';
import { TEACHABLE_MACHINE_BASE_MODEL } from '../../src/config/ml-choices';
import { DatasetService } from '../../src/dataset/dataset.service';
import { verifyModelFiles } from '../../src/training/ml/base-model';
import type { PublishedModel } from '../../src/export/export.service';
import { groceryFolder, tempDir } from '../support/fixtures';
import { writeRandomBaseModel } from '../support/random-base-model';
import { GROCERY, GROCERY_QUICK_CLASSES, REAL_BASE_MODEL_JSON, requireSharedData } from '../support/shared';
import { predictPhotos } from '../support/predict';
import { modelTrainer, trainerContext } from '../support/trainer-context';

interface LayerJson {
  class_name: string;
  name: string;
  config: Record<string, unknown>;
  inbound_nodes: unknown[][][];
}
interface ModelJson {
  modelTopology: { config: { layers: LayerJson[]; output_layers: unknown } };
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

describe('on the real base model and photos (../shared)', () => {
  let work: string;
  let app: TestingModule;
  let labels: string[];
  let summary: PublishedModel;
  const out = () => path.join(work, 'out');

  before(async () => {
    requireSharedData();
    work = await tempDir('real-data');
    const photos = path.join(work, 'photos');
    labels = await groceryFolder(photos, GROCERY_QUICK_CLASSES, 10, 0, GROCERY);
    app = await trainerContext(path.join(work, 'cache'), {
      BASE_MODEL_URL: REAL_BASE_MODEL_JSON,
      GROCERY_DATASET_URL: GROCERY.root,
    });
    const dataset = await app.get(DatasetService).fromFolder(photos);
    summary = await modelTrainer(app).train({ dataset, outDir: out(), modelName: 'quick' });
  });
  after(async () => {
    await app?.close();
    await fs.rm(work, { recursive: true, force: true });
  });

  it("the base model is Teachable Machine's: the sha256 the service checks its download against", async () => {
    assert.equal(await verifyModelFiles(REAL_BASE_MODEL_JSON), TEACHABLE_MACHINE_BASE_MODEL.sha256);
    const metadata = JSON.parse(await fs.readFile(path.join(out(), 'metadata.json'), 'utf8'));
    assert.equal(metadata.baseModel.sha256, TEACHABLE_MACHINE_BASE_MODEL.sha256);
  });

  it("the tests' random base model has its topology, layer for layer, and its weights manifest", async () => {
    const random = await writeRandomBaseModel(path.join(work, 'random'), 1);
    const read = async (file: string) => JSON.parse(await fs.readFile(file, 'utf8')) as ModelJson;
    const [ours, theirs] = await Promise.all([read(random), read(REAL_BASE_MODEL_JSON)]);
    assert.deepEqual(
      ours.modelTopology.config.layers.map(layerShape),
      theirs.modelTopology.config.layers.map(layerShape),
    );
    assert.deepEqual(ours.modelTopology.config.output_layers, theirs.modelTopology.config.output_layers);
    const specs = (m: ModelJson) =>
      new Map(m.weightsManifest.flatMap((g) => g.weights).map((w) => [w.name, `${w.dtype} ${w.shape.join('×')}`]));
    assert.deepEqual(specs(ours), specs(theirs));
  });

  it('builds the negative bank from the dataset and trains against all of it (none of its products is the shop’s)', () => {
    assert.deepEqual(summary.recognition.negativeBank, { photos: 644, classesLeftOut: [] });
    assert.match(summary.recognition.method, /negative bank \(outlier exposure\)/);
  });

  it('names at least 3 of 4 other-day photos of the same products right, reloaded from disk', async () => {
    const names = GROCERY.classNames();
    const val = GROCERY.photos('val').filter((p) => GROCERY_QUICK_CLASSES.includes(p.classId));
    const predictions = await predictPhotos(
      path.join(out(), 'model.json'),
      val.map((p) => p.file),
    );
    const correct = predictions.filter(
      (p, i) => labels[p.indexOf(Math.max(...p))] === names.get(val[i].classId),
    ).length;
    assert.ok(val.length >= 20, `${val.length} val photos`);
    assert.ok(correct / val.length >= 0.75, `${correct} of ${val.length} val photos right`);
  });
});
