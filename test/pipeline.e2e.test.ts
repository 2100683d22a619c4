/** End-to-end: the training pipeline on real photos (accuracy, cache, cancellation). */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import type { TestingModule } from '@nestjs/testing';
import { DatasetService } from '../src/dataset/dataset.service';
import { isFinal } from '../src/common/errors';
import { DatasetError } from '../src/dataset/dataset.types';
import { EmbeddingCache } from '../src/training/embedding-cache';
import { preprocessImage } from '../src/dataset/preprocess';
import { loadTensorflow } from '../src/training/ml/backend';
import { loadLayersModelFromFile } from '../src/training/ml/model-files';
import type { PublishedModel } from '../src/export/export.service';
import { escapeHtml } from '../src/export/report';
import { groceryFolder, tempDir } from './support/fixtures';
import { verifyModelFiles } from '../src/training/ml/base-model';
import { BASE_MODEL_JSON, QUICK_CLASSES, SAMPLE_SHOP_DIR, samplePhotos, TEST_PHOTOS } from './support/shared';
import { predictPhotos } from './support/predict';
import { modelTrainer, trainerContext, type ModelTrainer } from './support/trainer-context';

const run = promisify(execFile);

describe('training pipeline on real photos', () => {
  let work: string;
  let app: TestingModule;
  let trainer: ModelTrainer;
  let datasets: DatasetService;
  let photos: string;
  let out: string;
  let labels: string[];
  let summary: PublishedModel;

  before(async () => {
    work = await tempDir('pipeline');
    photos = path.join(work, 'photos');
    out = path.join(work, 'out');
    labels = await groceryFolder(photos, QUICK_CLASSES, 10);
    // Bad input that must be skipped with a reason, never fatal.
    await fs.writeFile(path.join(photos, labels[0], 'notes.jpg'), 'not a photo');
    const good = await fs.readFile(path.join(photos, labels[1], (await fs.readdir(path.join(photos, labels[1])))[0]));
    await fs.writeFile(path.join(photos, labels[1], 'truncated.jpg'), good.subarray(0, 2000));
    await fs.mkdir(path.join(photos, 'zz-no-usable-photo'));
    await fs.writeFile(path.join(photos, 'zz-no-usable-photo', 'empty.jpg'), '');
    await fs.mkdir(out);
    await fs.writeFile(path.join(out, 'keep-me.txt'), 'the owner’s file');

    app = await trainerContext(path.join(work, 'cache'));
    trainer = modelTrainer(app);
    datasets = app.get(DatasetService);
    summary = await trainer.train({ dataset: await datasets.fromFolder(photos), outDir: out, modelName: 'quick' });
  });
  after(async () => {
    await app?.close();
    await fs.rm(work, { recursive: true, force: true });
  });

  it('keeps the folder order of labels, drops a label without usable photos and reports skipped files', () => {
    assert.deepEqual(summary.labels, labels);
    assert.equal(summary.images, 40);
    assert.deepEqual(summary.droppedLabels, ['zz-no-usable-photo']);
    const reasons = Object.fromEntries(summary.skipped.map((s) => [path.basename(s.name), s.reason]));
    assert.match(reasons['notes.jpg'], /not a readable image/);
    assert.match(reasons['truncated.jpg'], /decoded|readable/);
    assert.equal(reasons['empty.jpg'], 'empty file');
  });

  it('writes a Teachable-Machine-shaped model and leaves other files alone', async () => {
    assert.deepEqual((await fs.readdir(out)).sort(), [
      'keep-me.txt',
      'metadata.json',
      'model.json',
      'report.html',
      'weights.bin',
    ]);
    assert.equal(await fs.readFile(path.join(out, 'keep-me.txt'), 'utf8'), 'the owner’s file');
    const model = JSON.parse(await fs.readFile(path.join(out, 'model.json'), 'utf8'));
    assert.equal(model.modelTopology.class_name, 'Sequential');
    const [truncated, head] = model.modelTopology.config.layers;
    assert.equal(truncated.class_name, 'Sequential');
    assert.deepEqual(
      truncated.config.layers.map((l: { class_name: string }) => l.class_name),
      ['Model', 'GlobalAveragePooling2D'],
    );
    assert.equal(head.class_name, 'Sequential');
    const [hidden, output] = head.config.layers;
    // The linear head as Teachable Machine's two layers: 2 × 4 hidden units, relu(x·W + b) and relu(−x·W − b).
    assert.deepEqual([hidden.class_name, hidden.config.units, hidden.config.activation], ['Dense', 8, 'relu']);
    assert.deepEqual(
      [output.class_name, output.config.units, output.config.activation, output.config.use_bias],
      ['Dense', 4, 'softmax', false],
    );
    assert.equal(model.weightsManifest.length, 1);
    assert.deepEqual(model.weightsManifest[0].paths, ['weights.bin']);
    const weightBytes = model.weightsManifest[0].weights.reduce(
      (sum: number, w: { shape: number[] }) => sum + 4 * w.shape.reduce((a, b) => a * b, 1),
      0,
    );
    assert.equal((await fs.stat(path.join(out, 'weights.bin'))).size, weightBytes);
  });

  it('writes metadata with Teachable Machine’s fields and ours', async () => {
    const metadata = JSON.parse(await fs.readFile(path.join(out, 'metadata.json'), 'utf8'));
    assert.equal(metadata.packageName, '@teachablemachine/image');
    assert.deepEqual(metadata.labels, labels);
    assert.equal(metadata.imageSize, 224);
    assert.equal(metadata.trainingId, summary.trainingId);
    assert.equal(metadata.productCount, 4);
    assert.equal(metadata.imageCount, 40);
    assert.equal(metadata.baseModel.sha256, await verifyModelFiles(BASE_MODEL_JSON));
    assert.equal(metadata.baseModel.url, null, 'a local path is not shown');
    assert.deepEqual(metadata.preprocessing.inputRange, [-1, 1]);
    assert.ok(metadata.metrics.secondsPerStage.embedding > 0);
    assert.ok(metadata.metrics.headIterations > 0 && metadata.metrics.headIterations <= 300);
    // Cross-validation: 4 folds, each with one of the 4 labels as the impostor and one photo of each of the other 3
    // held out as a scan.
    assert.equal(metadata.metrics.validationImages, 12);
    assert.ok(metadata.metrics.validationAccuracy >= 0 && metadata.metrics.validationAccuracy <= 1);
    assert.deepEqual(Object.keys(metadata.metrics.perClassAccuracy), labels);
    assert.equal(
      metadata.metrics.confusionMatrix.flat().reduce((a: number, b: number) => a + b, 0),
      12,
    );
    assert.equal(summary.validationAccuracy, metadata.metrics.validationAccuracy);
  });

  it('writes report.html beside the model: every product with a thumbnail, what the till will do', async () => {
    assert.equal(summary.files['report.html'].path, path.join(out, 'report.html'));
    const html = await fs.readFile(summary.files['report.html'].path, 'utf8');
    for (const label of labels) assert.ok(html.includes(`<td class="name">${label}`), label);
    const products = html.slice(html.indexOf('<table class="products">'), html.indexOf('</table>'));
    assert.equal(products.match(/<img class="thumb"/g)?.length, labels.length, 'a thumbnail per product');
    assert.match(
      html,
      /At the till, expect (about \d+ in 10|fewer than 1 in 10|nearly all) scans|too few photos to measure/,
    );
    assert.ok(html.includes(escapeHtml(summary.quality.headline)), 'the statement of the model card');
    assert.match(html, /Photos left out \(3\)/);
    assert.match(html, /<td>[^<]+\/truncated\.jpg<\/td><td>[^<]*(decoded|readable)/);
    assert.match(html, new RegExp(`training id</th><td>${summary.trainingId}`));
  });

  it('writes the recognition gate it baked into the model, and the same into the summary', async () => {
    const { recognition } = JSON.parse(await fs.readFile(path.join(out, 'metadata.json'), 'utf8'));
    assert.equal(recognition.threshold, 0.9);
    assert.equal(recognition.targetFalseAccept, 0.02);
    assert.equal(recognition.unknownShare, 0.5);
    assert.ok(recognition.logitScale >= 0.05 && recognition.logitScale <= 100, `scale ${recognition.logitScale}`);
    for (const share of [recognition.estimatedCorrectAccept, recognition.estimatedFalseAccept])
      assert.ok(share >= 0 && share <= 1, `share ${share}`);
    assert.ok(recognition.estimatedFalseAccept <= 0.02 + 1e-9);
    // No negative bank here (GROCERY_DATASET_URL names no folder): the training says so and goes on without it
    // (test/negative-bank.e2e.test.ts trains with one, test:data with the real one).
    assert.equal(recognition.negativeBank, null);
    assert.match(recognition.method, /no negative bank: it could not be had for this base model yet/);
    assert.ok(summary.warnings.some((w) => /^trained without the negative bank: .*no folder at /.test(w)));
    assert.equal(recognition.crossValidation.knownScans, 12);
    assert.equal(recognition.crossValidation.unknownScans, 40);
    assert.match(recognition.method, /cross-validation/);
    assert.deepEqual(JSON.parse(JSON.stringify(summary.recognition)), recognition);
    for (const advice of [...recognition.lookAlikes.map((l: { advice: string }) => l.advice), ...recognition.advice])
      assert.ok(summary.warnings.includes(advice), `warning: ${advice}`);
  });

  // How many it recognises is test:data's to check, on the real base model (test/data/real-data.data.test.ts).
  it('reloads from disk and gives a probability to every product for unseen photos', async () => {
    const { tf } = await loadTensorflow('auto');
    const model = await loadLayersModelFromFile(tf, path.join(out, 'model.json'));
    assert.deepEqual(model.inputs[0].shape, [null, 224, 224, 3]);
    assert.deepEqual(model.outputs[0].shape, [null, 4]);
    const val = TEST_PHOTOS.photos('val').filter((p) => QUICK_CLASSES.includes(p.classId));
    const predictions = await predictPhotos(
      path.join(out, 'model.json'),
      val.map((p) => p.file),
    );
    for (const probabilities of predictions) {
      assert.equal(probabilities.length, labels.length);
      assert.ok(Math.abs(probabilities.reduce((a, b) => a + b, 0) - 1) < 1e-5, 'probabilities sum to 1');
    }
    assert.equal(val.length, 20);
  });

  it('loads in TensorFlow.js 1.3.1 and predicts what TensorFlow.js 4 predicts', async () => {
    const { tf } = await loadTensorflow('auto');
    const model = await loadLayersModelFromFile(tf, path.join(out, 'model.json'));
    const files = TEST_PHOTOS.photos('val')
      .filter((p) => QUICK_CLASSES.includes(p.classId))
      .slice(0, 3);
    const inputs = new Float32Array(files.length * 224 * 224 * 3);
    for (const [i, f] of files.entries())
      inputs.set((await preprocessImage(await fs.readFile(f.file))).pixels, i * 224 * 224 * 3);
    const inputsFile = path.join(work, 'inputs.f32');
    await fs.writeFile(inputsFile, new Uint8Array(inputs.buffer));
    const expected = tf.tidy(() =>
      (model.predict(tf.tensor4d(inputs, [files.length, 224, 224, 3])) as import('@tensorflow/tfjs').Tensor).dataSync(),
    );
    const script = path.join(__dirname, 'support', 'tfjs-v1-predict.js');
    const { stdout } = await run(process.execPath, [script, out, inputsFile], { maxBuffer: 1 << 20 });
    const v1 = JSON.parse(stdout);
    assert.equal(v1.version, '1.3.1');
    assert.deepEqual(v1.inputShape, [null, 224, 224, 3]);
    assert.deepEqual(v1.outputShape, [null, 4]);
    const maxDifference = Math.max(...expected.map((p, i) => Math.abs(p - v1.predictions[i])));
    assert.ok(maxDifference < 1e-4, `max difference ${maxDifference}`);
  });

  it('retrains after new photos by embedding only the new ones', async () => {
    const more = await groceryFolder(photos, QUICK_CLASSES, 2, 10);
    assert.deepEqual(more, labels);
    const again = await trainer.train({ dataset: await datasets.fromFolder(photos), outDir: out, modelName: 'quick' });
    assert.equal(again.images, 48);
    assert.equal(again.cachedImages, 40, 'the 40 photos seen before come from the embedding cache');
    assert.notEqual(again.trainingId, summary.trainingId, 'every training gets its own id');
  });

  it('embeds again the photos whose cached embeddings were damaged, and trains the same model', async () => {
    const weights = await fs.readFile(path.join(out, 'weights.bin'));
    // Every entry zero-filled (its size kept), as the outside probe did: the entries' checksums no longer match.
    const cacheDir = path.join(work, 'cache', 'embeddings');
    const files = (await fs.readdir(cacheDir, { recursive: true })).filter((f) => f.endsWith('.f32'));
    assert.equal(files.length, 96, '48 photos × 2 views');
    for (const file of files) {
      const full = path.join(cacheDir, file);
      await fs.writeFile(full, Buffer.alloc((await fs.stat(full)).size));
    }
    const again = await trainer.train({ dataset: await datasets.fromFolder(photos), outDir: out, modelName: 'quick' });
    assert.equal(again.cachedImages, 0, 'no damaged entry is used');
    assert.deepEqual(await fs.readFile(path.join(out, 'weights.bin')), weights, 'the same model as before');
  });

  it('publishes no model trained on embeddings that are not its photos’, and embeds them anew', async () => {
    const weights = await fs.readFile(path.join(out, 'weights.bin'));
    const cacheDir = path.join(work, 'cache', 'embeddings');
    const entries = async () =>
      (await fs.readdir(cacheDir, { recursive: true }))
        .filter((f) => f.endsWith('.f32'))
        .map((f) => path.basename(f, '.f32'));
    const keys = await entries();
    // Each entry given another photo's embedding with a checksum that matches it: nothing in the files shows it.
    const cache = new EmbeddingCache(cacheDir, 'the keys are given');
    const embeddings = await Promise.all(keys.map((key) => cache.get(key)));
    await Promise.all(keys.map((key, i) => cache.put(key, embeddings[(i + 1) % keys.length]!)));
    const dataset = await datasets.fromFolder(photos);

    await assert.rejects(
      trainer.train({ dataset, outDir: out, modelName: 'quick' }),
      (err: Error) =>
        !isFinal(err) &&
        /^the trained model does not compute the embeddings it was trained on: for photo .* they differ by up to [\d.]+ \(allowed: 0.001\), so its figures do not describe it, and it was not published; 96 of its 96 embeddings came from the embedding cache, whose entries for this training's photos were removed: another attempt embeds them anew$/.test(
          err.message,
        ),
    );
    assert.deepEqual(await fs.readFile(path.join(out, 'weights.bin')), weights, 'the model of before is left in place');
    assert.deepEqual(await entries(), [], "the training's cache entries are gone");

    const again = await trainer.train({ dataset, outDir: out, modelName: 'quick' });
    assert.equal(again.cachedImages, 0);
    assert.deepEqual(await fs.readFile(path.join(out, 'weights.bin')), weights, 'the same model as before');
  });

  it('does not read embeddings another engine made: they are keyed by what made them', async () => {
    const tfjs = await trainerContext(path.join(work, 'cache'), { EMBEDDING_ENGINE: 'tfjs' });
    try {
      const summary = await modelTrainer(tfjs).train({
        dataset: await datasets.fromFolder(photos),
        outDir: path.join(work, 'out-tfjs'),
        modelName: 'quick',
      });
      assert.equal(summary.cachedImages, 0, 'the ONNX graph’s embeddings are not the tfjs engine’s');
    } finally {
      await tfjs.close();
    }
  });

  it('stops a training at once when it is cancelled, and the next one trains', async () => {
    const sample = await datasets.fromFolder(SAMPLE_SHOP_DIR);
    const cache = { EMBEDDING_CACHE_DIR: path.join(work, 'cancel-embeddings') };
    const fresh = await trainerContext(path.join(work, 'cache-cancel'), cache);
    try {
      const cancelling = modelTrainer(fresh);
      const controller = new AbortController();
      const started = performance.now();
      const stopped = cancelling.train(
        { dataset: sample, outDir: path.join(work, 'out-cancel'), modelName: 'x', cancel: controller.signal },
        (stage, fraction) => stage === 'training' && fraction > 0 && controller.abort(new Error('the ceiling')),
      );
      // The reason itself, or the pool's AbortError carrying it.
      await assert.rejects(stopped, (err: Error) =>
        [err.message, String(err.cause)].some((m) => /the ceiling/.test(m)),
      );
      const seconds = (performance.now() - started) / 1000;
      await assert.rejects(fs.access(path.join(work, 'out-cancel', 'model.json')), 'no model written');
      // The heads' fits stopped at their next evaluation and freed their threads: the same service trains again.
      const again = await cancelling.train({ dataset: sample, outDir: path.join(work, 'out-cancel'), modelName: 'x' });
      assert.equal(again.images, samplePhotos().length);
      assert.ok(seconds < 10, `cancelled after ${seconds} s`);
    } finally {
      await fresh.close();
    }
  });

  it('refuses to train fewer than two labels, saying so', async () => {
    const single = path.join(work, 'single');
    await groceryFolder(single, [QUICK_CLASSES[0]], 3);
    await assert.rejects(
      trainer.train({
        dataset: await datasets.fromFolder(single),
        outDir: path.join(work, 'out-single'),
        modelName: 'x',
      }),
      (err: unknown) =>
        err instanceof DatasetError && /need usable photos of at least 2 labels to train, found 1/.test(err.message),
    );
  });

  it('names the path of a missing base model', async () => {
    await assert.rejects(
      trainer.train({
        dataset: await datasets.fromFolder(photos),
        outDir: out,
        modelName: 'x',
        baseModel: path.join(work, 'missing', 'model.json'),
      }),
      new RegExp(
        `base model not readable at ${path.join(work, 'missing', 'model.json').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`,
      ),
    );
  });
});
