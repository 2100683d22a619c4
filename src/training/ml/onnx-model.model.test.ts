/** Model tests: the generated ONNX graph embeds as tfjs does. */
import assert from 'node:assert/strict';
import { promises as fs, readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BASE_MODEL_JSON, ensureTestData, samplePhotos } from '../../../test/support/shared';
import { preprocessImage, VIEW_SPECS, type View } from '../../dataset/preprocess';
import { loadTensorflow } from './backend';
import { EMBEDDING_LAYER } from './base-model';
import { embedPixels } from './feature-extractor';
import { FusedFeatureExtractor } from './fused-extractor';
import { fuseLayersModel, UnsupportedLayerError } from './fused-graph';
import { readModelArtifacts } from './model-files';
import { onnxModelOf } from './onnx-model';
import { loadOnnxRuntime, OnnxEmbedder } from './onnx-runtime';
import { MlWorkerPool } from './ml-worker-pool';
import { EMBEDDING_SIZE } from '../../config/model-shape';

describe('the base model as an ONNX graph', () => {
  let dir: string;
  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ml-trainer-onnx-'));
    await ensureTestData();
  });
  after(() => fs.rm(dir, { recursive: true, force: true }));

  it('embeds photos within 1e-4 of TensorFlow.js, in the plain view and every crop view', async () => {
    const artifacts = await readModelArtifacts(BASE_MODEL_JSON);
    const graph = fuseLayersModel(artifacts, EMBEDDING_LAYER);
    const onnxPath = path.join(dir, 'base.onnx');
    await fs.writeFile(onnxPath, onnxModelOf(graph));
    const onnx = await OnnxEmbedder.load(onnxPath);
    const { tf } = await loadTensorflow('auto');
    const tfjs = FusedFeatureExtractor.fromGraph(tf, graph);
    // One photo of each product and three more.
    const photos = samplePhotos().filter((_, i) => i % 5 === 0);
    let maxDifference = 0;
    let maxValue = 0;
    for (const view of Object.keys(VIEW_SPECS) as View[]) {
      const images = await Promise.all(photos.map(async (p) => (await preprocessImage(readFileSync(p), view)).pixels));
      const expected = embedPixels(tf, tfjs, images);
      const actual = await onnx.embed(images);
      actual.forEach((row, i) => {
        assert.equal(row.length, EMBEDDING_SIZE);
        row.forEach((v, j) => {
          maxDifference = Math.max(maxDifference, Math.abs(v - expected[i][j]));
          maxValue = Math.max(maxValue, expected[i][j]);
        });
      });
    }
    assert.ok(photos.length >= 5 && maxValue > 1, 'real, non-trivial embeddings');
    assert.ok(maxDifference < 1e-4, `max difference ${maxDifference}`);
    await onnx.release();
    tfjs.dispose();
  });

  it('tells ONNX Runtime not to send telemetry, before the main thread or a worker loads it', async () => {
    // Measured with strace: without ORT_DISABLE_TELEMETRY, onnxruntime-node 1.30 resolves
    // mobile.events.data.microsoft.com some seconds into a session.
    delete process.env.ORT_DISABLE_TELEMETRY;
    loadOnnxRuntime();
    assert.equal(process.env.ORT_DISABLE_TELEMETRY, '1');
    delete process.env.ORT_DISABLE_TELEMETRY;
    await new MlWorkerPool({ workers: 1, backend: 'cpu' }).destroy();
    assert.equal(process.env.ORT_DISABLE_TELEMETRY, '1');
    process.env.ORT_DISABLE_TELEMETRY = '0';
    loadOnnxRuntime();
    assert.equal(process.env.ORT_DISABLE_TELEMETRY, '0', "an operator's own setting stands");
    process.env.ORT_DISABLE_TELEMETRY = '1';
  });

  it('names the layer it cannot express', async () => {
    const artifacts = await readModelArtifacts(BASE_MODEL_JSON);
    const topology = structuredClone(artifacts.modelTopology) as { config: { layers: { config: any }[] } };
    // A plain ReLU (no 6 cap) after the first convolution: neither engine's fused graph has one.
    topology.config.layers.find((l) => l.config.name === 'Conv1_relu')!.config.max_value = null;
    assert.throws(
      () => fuseLayersModel({ ...artifacts, modelTopology: topology }, EMBEDDING_LAYER),
      (err) =>
        err instanceof UnsupportedLayerError &&
        err.message === "the base model's layer Conv1_relu (ReLU) cannot be fused",
    );
  });
});
