/**
 * `npm run bench`: trains on the first k photos per class of the grocery train split (k = 5, 10, all; 81 classes)
 * with the CLI, exactly as a user would, and measures time, memory and accuracy on the val split. The plain
 * Teachable Machine recipe is trained on the same embeddings as the baseline.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type * as TF from '@tensorflow/tfjs';
import { preprocessImage } from '../../src/dataset/preprocess';
import { loadTensorflow } from '../../src/training/ml/backend';
import { EMBEDDING_LAYER } from '../../src/training/ml/base-model';
import { embedPixels } from '../../src/training/ml/feature-extractor';
import { FusedFeatureExtractor } from '../../src/training/ml/fused-extractor';
import { headProbabilities } from '../../src/training/ml/dense-head';
import { trainHead } from '../../src/training/ml/head';
import { TEACHABLE_MACHINE_RECIPE } from '../../src/training/ml/teachable-machine-head';
import { fuseLayersModel } from '../../src/training/ml/fused-graph';
import { loadLayersModelFromFile, readModelArtifacts } from '../../src/training/ml/model-files';
import { DatasetService } from '../../src/dataset/dataset.service';
import { tempDir } from '../support/fixtures';
import { modelTrainer, trainerContext } from '../support/trainer-context';
import { REAL_BASE_MODEL_JSON, firstPerClass, GROCERY, type GroceryPhoto } from '../support/shared';
import { BASELINE_SEEDS, linkFolder, runCli, teachableMachine } from './cli-runs';
import { mean, pct, table } from './open-set';

interface Accuracy {
  top1: number;
  top3: number;
}

async function main(): Promise<void> {
  const work = await tempDir('bench');
  const names = GROCERY.classNames();
  const train = GROCERY.photos('train');
  const val = GROCERY.photos('val');
  const { tf, backend } = await loadTensorflow('auto');
  console.log(
    `ml-trainer benchmark: grocery dataset, ${names.size} classes, ${val.length} val photos; bench process backend ${backend}`,
  );
  const valEmbeddings = await embedVal(tf, val);
  const rows: string[][] = [];

  try {
    const firstRun = await runCli(
      await linkFolder(path.join(work, 'photos-first'), firstPerClass(val, 2).slice(0, 8), names),
      path.join(work, 'model-first'),
      path.join(work, 'cache-first'),
    );
    console.log(
      `first run on this machine (makes and checks the base model's ONNX graph and builds its negative bank once; 8 photos): ${firstRun.wallSeconds.toFixed(1)} s`,
    );
    for (const k of [5, 10, Infinity]) {
      const label = Number.isFinite(k) ? `k=${k}` : 'k=all';
      const photos = firstPerClass(train, k);
      const folder = await linkFolder(path.join(work, `photos-${label}`), photos, names);
      const cache = path.join(work, `cache-${label}`);
      const cold = await runCli(folder, path.join(work, `model-${label}`), cache);
      const ours = await evaluateModel(
        tf,
        path.join(work, `model-${label}`, 'model.json'),
        val,
        valEmbeddings.pixels,
        names,
      );
      const tm = await teachableMachine(tf, photos);
      const baseline = await baselineAccuracy(tf, tm, valEmbeddings.embeddings, val);
      const s = cold.summary.secondsPerStage;
      rows.push([
        label,
        String(cold.summary.images),
        (cold.summary.images / s.embedding).toFixed(1),
        s.embedding.toFixed(1),
        s.training.toFixed(1),
        s.exporting.toFixed(1),
        cold.wallSeconds.toFixed(1),
        tm.seconds.toFixed(1),
        `${(cold.wallSeconds / tm.seconds).toFixed(2)}×`,
        String(cold.summary.peakRssMB),
        pct(ours.top1),
        pct(ours.top3),
        pct(baseline.top1),
        pct(baseline.top3),
        (100 * (ours.top1 - baseline.top1)).toFixed(1),
      ]);
      console.log(
        `${label} done: cold ${cold.wallSeconds.toFixed(1)} s (TM recipe ${tm.seconds.toFixed(1)} s), top-1 ${pct(ours.top1)} vs TM ${pct(baseline.top1)}`,
      );

      if (k === 10) {
        const parallelRate = cold.summary.images / s.embedding;
        const rate = async (name: string, env: Record<string, string>, command?: string[]) => {
          const run = await runCli(
            folder,
            path.join(work, 'model-single'),
            path.join(work, `cache-${name}`),
            env,
            command,
          );
          const single = run.summary.images / run.summary.secondsPerStage.embedding;
          return `${single.toFixed(1)} photos/s ${name}, so both cores are ${(parallelRate / single).toFixed(2)}× faster`;
        };
        console.log(
          `embedding throughput k=10: ${parallelRate.toFixed(1)} photos/s with ${cold.summary.workers} workers on both cores; ` +
            `${await rate('on one core (taskset -c 0, TRAINING_WORKERS=1)', { TRAINING_WORKERS: '1' }, ['taskset', '-c', '0'])}; ` +
            `${await rate('with TRAINING_WORKERS=1 (decoding may still use the other core)', { TRAINING_WORKERS: '1' })}`,
        );
        const extra = firstPerClass(train, 11).filter((p) => !photos.includes(p));
        const retrainFolder = path.join(work, 'photos-k=10-plus');
        await linkFolder(retrainFolder, [...photos, ...extra], names);
        const retrain = await runCli(retrainFolder, path.join(work, `model-${label}`), cache);
        console.log(
          `CLI retrain k=10 + ${extra.length} new photos (${pct(extra.length / photos.length)}): ${retrain.wallSeconds.toFixed(1)} s ` +
            `= ${pct(retrain.wallSeconds / cold.wallSeconds)} of the cold ${cold.wallSeconds.toFixed(1)} s ` +
            `(stages: ${JSON.stringify(retrain.summary.secondsPerStage)})`,
        );
        console.log(await inProcessRetrain(work, folder, retrainFolder));
      }
    }
  } finally {
    await fs.rm(work, { recursive: true, force: true });
  }
  const header = [
    'k',
    'photos',
    'photos/s',
    'embed s',
    'head s',
    'export s',
    'total s',
    'TM s',
    'ours/TM',
    'peak RSS MB',
    'top-1',
    'top-3',
    'TM top-1',
    'TM top-3',
    'Δ top-1',
  ];
  console.log('\nCold trainings with the CLI (fresh embedding cache; total = process start to files written):');
  console.log(table([header, ...rows]));
  console.log(
    `TM = Teachable Machine recipe reproduced in Node in this run, as its library trains (each photo preprocessed, centre view, and embedded by the base model's own layers one at a time on one thread; head Dense 100 → softmax, 50 epochs, batch 16, Adam 1e-3, 15% held out); TM s from start to trained head; its accuracy is the mean of seeds ${BASELINE_SEEDS.join(', ')}.`,
  );
}

/**
 * A running service trains with warm worker threads: cold (empty embedding cache) then again after 10% new photos,
 * in one process.
 */
async function inProcessRetrain(work: string, folder: string, retrainFolder: string): Promise<string> {
  const app = await trainerContext(path.join(work, 'cache-in-process'), {
    BASE_MODEL_URL: REAL_BASE_MODEL_JSON,
    GROCERY_DATASET_URL: GROCERY.root,
  });
  try {
    const trainer = modelTrainer(app);
    const datasets = app.get(DatasetService);
    const timed = async (dir: string) => {
      const started = performance.now();
      const summary = await trainer.train({
        dataset: await datasets.fromFolder(dir),
        outDir: path.join(work, 'model-in-process'),
        modelName: 'bench',
      });
      const seconds = (performance.now() - started) / 1000;
      console.log(
        `  in process, ${path.basename(dir)}: ${seconds.toFixed(2)} s, stages ${JSON.stringify(summary.secondsPerStage)}`,
      );
      return seconds;
    };
    // A first small training on other photos (val) starts the workers and builds the negative bank, as earlier jobs
    // have in a running service.
    const names = GROCERY.classNames();
    const warmUpPhotos = GROCERY.photos('val').filter((p) => p.classId < 4);
    const warmUp = await timed(await linkFolder(path.join(work, 'photos-warm-up'), warmUpPhotos, names));
    const cold = await timed(folder);
    const retrain = await timed(retrainFolder);
    return (
      `in one process with warm workers (as the service runs; a first training on ${warmUpPhotos.length} other photos, ` +
      `${warmUp.toFixed(1)} s, starts them): cold k=10 ${cold.toFixed(1)} s, retrain + 10% photos ${retrain.toFixed(1)} s ` +
      `= ${pct(retrain / cold)} of cold`
    );
  } finally {
    await app.close();
  }
}

async function embedVal(tf: typeof TF, val: GroceryPhoto[]) {
  const fused = FusedFeatureExtractor.fromGraph(
    tf,
    fuseLayersModel(await readModelArtifacts(REAL_BASE_MODEL_JSON), EMBEDDING_LAYER),
  );
  const pixels = await Promise.all(val.map(async (p) => (await preprocessImage(await fs.readFile(p.file))).pixels));
  const embeddings: Float32Array[] = [];
  for (let i = 0; i < pixels.length; i += 16) embeddings.push(...embedPixels(tf, fused, pixels.slice(i, i + 16)));
  fused.dispose();
  return { pixels, embeddings };
}

/** Top-1/top-3 of the exported model, run whole (base + head) on the val photos. */
async function evaluateModel(
  tf: typeof TF,
  modelJson: string,
  val: GroceryPhoto[],
  pixels: Float32Array[],
  names: Map<number, string>,
): Promise<Accuracy> {
  const model = await loadLayersModelFromFile(tf, modelJson);
  const labels: string[] = JSON.parse(
    await fs.readFile(path.join(path.dirname(modelJson), 'metadata.json'), 'utf8'),
  ).labels;
  const probabilities: Float32Array[] = [];
  for (let i = 0; i < pixels.length; i += 16) {
    const batch = pixels.slice(i, i + 16);
    const input = new Float32Array(batch.length * batch[0].length);
    batch.forEach((p, j) => input.set(p, j * p.length));
    const out = tf.tidy(
      () => (model.predict(tf.tensor4d(input, [batch.length, 224, 224, 3])) as TF.Tensor).dataSync() as Float32Array,
    );
    for (let j = 0; j < batch.length; j++) probabilities.push(out.slice(j * labels.length, (j + 1) * labels.length));
  }
  model.dispose();
  return accuracy(
    probabilities,
    val.map((p) => labels.indexOf(names.get(p.classId)!)),
  );
}

/** The Teachable Machine recipe's accuracy on the val embeddings, mean over BASELINE_SEEDS. */
async function baselineAccuracy(
  tf: typeof TF,
  tm: Awaited<ReturnType<typeof teachableMachine>>,
  valEmbeddings: Float32Array[],
  val: GroceryPhoto[],
): Promise<Accuracy> {
  const results: Accuracy[] = [];
  for (const seed of BASELINE_SEEDS) {
    const report =
      seed === BASELINE_SEEDS[0] ? tm.first : await trainHead(tf, tm.set, { ...TEACHABLE_MACHINE_RECIPE, seed });
    results.push(
      accuracy(
        valEmbeddings.map((e) => headProbabilities(report.weights, e)),
        val.map((p) => tm.classIds.indexOf(p.classId)),
      ),
    );
  }
  return { top1: mean(results.map((r) => r.top1)), top3: mean(results.map((r) => r.top3)) };
}

function accuracy(probabilities: Float32Array[], truth: number[]): Accuracy {
  let top1 = 0;
  let top3 = 0;
  probabilities.forEach((p, i) => {
    const ranked = Array.from(p.keys()).sort((a, b) => p[b] - p[a]);
    if (ranked[0] === truth[i]) top1++;
    if (ranked.slice(0, 3).includes(truth[i])) top3++;
  });
  return { top1: top1 / truth.length, top3: top3 / truth.length };
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
