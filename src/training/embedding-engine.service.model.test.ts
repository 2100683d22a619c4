/** Model tests: ONNX Runtime and TensorFlow.js give the same embeddings, and the engine choice. */
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import { randomUUID } from 'node:crypto';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BASE_MODEL_JSON, ensureTestData, samplePhotos } from '../../test/support/shared';
import { loadConfig } from '../config/app-config';
import { verifyModelFiles, type BaseModelFiles } from './ml/base-model';
import { MlWorkerPool } from './ml/ml-worker-pool';
import { degenerateEmbeddings, EmbeddingEngineService } from './embedding-engine.service';
import { FinalError } from '../common/errors';
import type { MlWorkerPoolService } from './ml-worker-pool.service';
import { EMBEDDING_SIZE } from '../config/model-shape';

const cutShort = (b: Buffer) => b.subarray(0, b.length >> 1);

describe('EmbeddingEngineService', () => {
  let dir: string;
  let pool: MlWorkerPool;
  let base: BaseModelFiles;
  /** The base model with a plain ReLU (no cap at 6) after its first convolution: no fused graph expresses it. */
  let unusual: BaseModelFiles;
  const service = (engine: string) =>
    new EmbeddingEngineService(
      loadConfig({ MODEL_CACHE_DIR: path.join(dir, 'cache'), EMBEDDING_ENGINE: engine }),
      pool as MlWorkerPoolService,
    );

  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ml-trainer-engine-'));
    await ensureTestData();
    pool = new MlWorkerPool({ workers: 1, backend: 'auto' });
    base = { source: BASE_MODEL_JSON, modelJsonPath: BASE_MODEL_JSON, sha256: await verifyModelFiles(BASE_MODEL_JSON) };
    const modelJson = JSON.parse(await fs.readFile(BASE_MODEL_JSON, 'utf8'));
    modelJson.modelTopology.config.layers.find((l: any) => l.config.name === 'Conv1_relu').config.max_value = null;
    const unusualDir = path.join(dir, 'unusual');
    await fs.mkdir(unusualDir);
    await fs.writeFile(path.join(unusualDir, 'model.json'), JSON.stringify(modelJson));
    await fs.copyFile(path.join(path.dirname(BASE_MODEL_JSON), 'weights.bin'), path.join(unusualDir, 'weights.bin'));
    const unusualJson = path.join(unusualDir, 'model.json');
    // The same weights: the sha256 is the weights', so the test gives it another identity.
    unusual = { source: unusualJson, modelJsonPath: unusualJson, sha256: 'f'.repeat(64) };
  });
  after(async () => {
    await pool.destroy();
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('generates the ONNX graph once, checks it against tfjs and caches it by the base model’s sha256', async () => {
    let comparisons = 0;
    const compare = pool.compareEngines.bind(pool);
    pool.compareEngines = (task) => (comparisons++, compare(task));
    const first = await service('auto').engineFor(base);
    assert.equal(first.name, 'onnx');
    assert.equal(path.basename((first as { onnxPath: string }).onnxPath), `${base.sha256}.v1.onnx`);
    assert.equal(comparisons, 1);
    const later = await service('auto').engineFor(base);
    assert.deepEqual(later, first);
    assert.equal(comparisons, 1, 'a cached graph was checked when it was written');
    assert.deepEqual(await service('tfjs').engineFor(base), { name: 'tfjs', producer: 'tfjs' });
    pool.compareEngines = compare;
  });

  it('makes the graph again when the cached one was cut short or altered, and removes what a killed check left', async () => {
    const first = (await service('auto').engineFor(base)) as { onnxPath: string };
    const good = await fs.readFile(first.onnxPath);
    // A graph a killed process was checking (pid 2^22 + 1 is above Linux's pid_max).
    const killed = `${first.onnxPath}.unchecked~${os.hostname()}~4194305~${randomUUID()}`;
    await fs.writeFile(killed, cutShort(good));
    const altered = (b: Buffer) => {
      const copy = Buffer.from(b);
      copy[copy.length - 100] ^= 0x40; // a weight near the end: the graph still loads, and embeds wrongly
      return copy;
    };
    for (const damage of [cutShort, altered]) {
      await fs.writeFile(first.onnxPath, damage(good));
      const again = (await service('auto').engineFor(base)) as { name: string; onnxPath: string };
      assert.equal(again.name, 'onnx');
      assert.deepEqual(await fs.readFile(again.onnxPath), good, 'made again, byte for byte');
    }
    assert.deepEqual(await fs.readdir(path.dirname(first.onnxPath)), [path.basename(first.onnxPath)]);
  });

  it('falls back to tfjs for a base model with a layer the graph cannot express, and names the layer', async () => {
    assert.deepEqual(await service('auto').engineFor(unusual), { name: 'tfjs', producer: 'tfjs' });
    await assert.rejects(
      service('onnx').engineFor(unusual),
      new Error("EMBEDDING_ENGINE=onnx cannot be used: the base model's layer Conv1_relu (ReLU) cannot be fused"),
    );
    // The tfjs path runs such a model layer by layer.
    const photo = new Uint8Array(await fs.readFile(samplePhotos()[0]));
    const [outcome] = await pool.embed({
      modelJsonPath: unusual.modelJsonPath,
      items: [{ bytes: photo, views: ['centre'] }],
    });
    assert.ok('embeddings' in outcome && outcome.embeddings[0].length === EMBEDDING_SIZE);
  });

  it('refuses a base model with damaged weights (all zeros) before it embeds a photo, naming BASE_MODEL_URL', async () => {
    const zeroDir = path.join(dir, 'zeros');
    await fs.mkdir(zeroDir);
    const weights = await fs.stat(path.join(path.dirname(BASE_MODEL_JSON), 'weights.bin'));
    await fs.copyFile(BASE_MODEL_JSON, path.join(zeroDir, 'model.json'));
    await fs.writeFile(path.join(zeroDir, 'weights.bin'), Buffer.alloc(weights.size));
    const zeroJson = path.join(zeroDir, 'model.json');
    const zeros = { source: zeroJson, modelJsonPath: zeroJson, sha256: await verifyModelFiles(zeroJson) };
    for (const engine of ['auto', 'tfjs'])
      await assert.rejects(service(engine).ensureSound(zeros), (err: Error) => {
        assert.ok(err instanceof FinalError, 'not worth another attempt');
        assert.match(
          err.message,
          new RegExp(
            `^the base model ${zeroJson.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} gives (all-zero embeddings|` +
              `embeddings whose values are all the same|the same embedding for clearly different photos): its ` +
              `weights are damaged .*point BASE_MODEL_URL \\(or --base-model\\)`,
          ),
        );
        return true;
      });
    await service('auto').ensureSound(base); // a sound one passes
  });

  it('tells degenerate embeddings from sound ones', () => {
    const sound = [Float32Array.from([0, 1, 2]), Float32Array.from([1, 0, 2]), Float32Array.from([2, 2, 0])];
    assert.equal(degenerateEmbeddings(sound), null);
    assert.equal(degenerateEmbeddings([sound[0], Float32Array.from([0, NaN, 1])]), 'gives values that are not numbers');
    assert.equal(degenerateEmbeddings([new Float32Array(3), new Float32Array(3)]), 'gives all-zero embeddings');
    assert.equal(
      degenerateEmbeddings([new Float32Array(3).fill(0.5), new Float32Array(3).fill(0.7)]),
      'gives embeddings whose values are all the same',
    );
    assert.equal(
      degenerateEmbeddings([sound[0], sound[1], Float32Array.from([0, 1, 2.00001])]),
      'gives the same embedding for clearly different photos',
    );
  });
});
