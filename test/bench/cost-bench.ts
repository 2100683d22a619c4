/**
 * `npm run bench:cost`: what a training costs as a shop grows. Shops of 20, 81, 200 and 500 products of 10 photos
 * each, trained cold (photos never embedded; the base model's ONNX graph and the negative bank already made) and
 * retrained after one new photo for every tenth product, from scratch and from the model before (warm start); with
 * the CLI as a user runs it, and in one process with warm workers as the service runs. Beside them, in the same run,
 * Teachable Machine's recipe reproduced in Node at 81 products (the reference). Prints seconds per stage, peak
 * memory, CPU-seconds and the figures the model states, so that a warm start's figures can be compared with a cold
 * fit's; then what a day of retrains costs. Each retrain is run COST_RETRAINS times (3), each time with other new
 * photos and the two kinds in alternating order, and the table shows the run of median time.
 *
 * The grocery dataset has 81 classes: a shop of more products takes several products from one class, 10 photos each
 * from its train, val and dev photos in turn; past about 400 products those run out and a product's photos are
 * mirrored copies of another's (other bytes, embedded like any photo). A new photo is a turned copy of one of the
 * product's photos.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import { DatasetService } from '../../src/dataset/dataset.service';
import { readPreviousModel } from '../../src/cli';
import { loadTensorflow } from '../../src/training/ml/backend';
import { tempDir } from '../support/fixtures';
import { modelTrainer, trainerContext } from '../support/trainer-context';
import { GROCERY, REAL_BASE_MODEL_JSON, firstPerClass } from '../support/shared';
import { productFolder, runCli, teachableMachine, type CliSummary } from './cli-runs';
import { table } from './open-set';

const SHOP_SIZES = (process.env.COST_PRODUCTS ?? '20,81,200,500').split(',').map(Number);
/** Retrains of each kind per shop, each with other new photos (the machine is noisy: the table shows the median). */
const RETRAINS = Number(process.env.COST_RETRAINS ?? 3);
const PHOTOS_PER_PRODUCT = 10;
/** A retrain adds a photo to every this-many-th product. */
const NEW_PHOTO_EVERY = 10;
const REFERENCE_PRODUCTS = 81;
/** Photos of each class copied (mirrored) when a shop needs more products than the originals make. */
const MIRRORED_PER_CLASS = 20;

interface Product {
  name: string;
  files: string[];
}

/** What a run's model states: its figures, to compare a warm start's with a cold fit's. */
interface Stated {
  iterations: number;
  crossValidated: number;
  scale: number;
  named: number;
  wrong: number;
}

interface Run {
  products: number;
  photos: number;
  how: string;
  seconds: number;
  stages: Record<string, number>;
  peakRssMB: number | null;
  cpuSeconds: number;
  stated: Stated;
}

async function main(): Promise<void> {
  const work = await tempDir('cost-bench');
  const runs: Run[] = [];
  try {
    const pools = photoPools();
    // Grey copies of 8 photos, which no shop has: the first run makes the base model's ONNX graph and the negative
    // bank (once per machine), and each service process trains them first to start its workers, as earlier jobs have.
    const warmUpProducts = await Promise.all(
      [...pools].slice(0, 2).map(async ([classId, files]) => ({
        name: `warm-up-${classId}`,
        files: await Promise.all(
          files.slice(0, 4).map((file, i) => alteredCopy(file, path.join(work, 'warm-up'), `${classId}-${i}`, 'grey')),
        ),
      })),
    );
    const warmUp = await productFolder(path.join(work, 'photos-warm-up'), warmUpProducts);
    const firstRun = await runCli(warmUp, path.join(work, 'model-first'), path.join(work, 'cache-first'));
    console.log(
      `first run on this machine (ONNX graph and negative bank, 8 photos): ${firstRun.wallSeconds.toFixed(1)} s`,
    );

    for (const size of SHOP_SIZES) {
      const products = await shopOf(pools, size, path.join(work, 'mirrored'));
      const folder = await productFolder(path.join(work, `photos-${size}`), products);
      // Each retrain's new photos are turned copies, by another angle each time: every retrain embeds its own.
      const retrains = await Promise.all(
        Array.from({ length: RETRAINS }, async (_, r) => {
          const grown = await withNewPhotos(products, path.join(work, `new-photos-${r}`), TURNS[r % TURNS.length]);
          return { grown, folder: await productFolder(path.join(work, `photos-${size}-grown-${r}`), grown) };
        }),
      );
      /** Both retrains of each set of new photos, the one that embeds them first in turn. */
      const retrainBoth = async (retrain: (how: string, r: number, fromLast: boolean) => Promise<unknown>) => {
        for (let r = 0; r < RETRAINS; r++)
          for (const fromLast of r % 2 ? [true, false] : [false, true])
            await retrain(fromLast ? 'retrain from the last model' : 'retrain from scratch', r, fromLast);
      };
      const cache = path.join(work, `cache-${size}`);
      const cli = async (how: string, photos: Product[], dir: string, previous?: string) => {
        const out = path.join(work, `cli-${size}-${slug(how)}`);
        const args = previous ? ['--previous-model', previous] : [];
        const { summary, wallSeconds } = await runCli(dir, out, cache, {}, [], args);
        runs.push(cliRun(photos, `CLI, ${how}`, summary, wallSeconds, await statedBy(out)));
        console.log(
          `  ${size} products, CLI, ${how}: ${wallSeconds.toFixed(2)} s ${JSON.stringify(summary.secondsPerStage)}`,
        );
        return out;
      };
      const cold = await cli('cold', products, folder);
      await retrainBoth((how, r, fromLast) =>
        cli(how, retrains[r].grown, retrains[r].folder, fromLast ? cold : undefined),
      );

      const service = await trainerContext(path.join(work, 'model-cache'), {
        BASE_MODEL_URL: REAL_BASE_MODEL_JSON,
        GROCERY_DATASET_URL: GROCERY.root,
        EMBEDDING_CACHE_DIR: path.join(work, `service-embeddings-${size}`),
      });
      try {
        const trainer = modelTrainer(service);
        const datasets = service.get(DatasetService);
        const inProcess = async (how: string, photos: Product[], dir: string, previous?: string) => {
          const out = path.join(work, `service-${size}-${slug(how)}`);
          const cpu = process.cpuUsage();
          const started = performance.now();
          const summary = await trainer.train({
            dataset: await datasets.fromFolder(dir),
            outDir: out,
            modelName: 'cost',
            previousModel: previous ? await readPreviousModel(previous) : undefined,
          });
          const seconds = (performance.now() - started) / 1000;
          const used = process.cpuUsage(cpu);
          runs.push({
            ...shape(photos),
            how: `service, ${how}`,
            seconds,
            stages: summary.secondsPerStage,
            peakRssMB: null,
            cpuSeconds: (used.user + used.system) / 1e6,
            stated: await statedBy(out),
          });
          console.log(
            `  ${size} products, service, ${how}: ${seconds.toFixed(2)} s ${JSON.stringify(summary.secondsPerStage)}`,
          );
          return out;
        };
        await inProcess('warm-up', warmUpProducts, warmUp);
        runs.pop();
        const serviceCold = await inProcess('cold', products, folder);
        await retrainBoth((how, r, fromLast) =>
          inProcess(how, retrains[r].grown, retrains[r].folder, fromLast ? serviceCold : undefined),
        );
      } finally {
        await service.close();
      }
      console.log(`${size} products done`);
    }

    const { tf } = await loadTensorflow('auto');
    const reference = await teachableMachine(tf, firstPerClass(GROCERY.photos('train'), PHOTOS_PER_PRODUCT));
    printTables(runs, reference.seconds);
  } finally {
    await fs.rm(work, { recursive: true, force: true });
  }
}

const slug = (text: string) => text.replace(/\W+/g, '-');

/** Per class, its photos in train, val and dev order. */
function photoPools(): Map<number, string[]> {
  const pools = new Map<number, string[]>();
  for (const photo of [...GROCERY.photos('train'), ...GROCERY.photos('val'), ...GROCERY.photos('dev')])
    pools.set(photo.classId, [...(pools.get(photo.classId) ?? []), photo.file]);
  return pools;
}

const TURNS = [90, 180, 270] as const;

/** A copy of a photo, mirrored, grey or turned (other bytes, the same kind of photo), as a JPEG of its own. */
async function alteredCopy(
  file: string,
  dir: string,
  name: string,
  how: 'mirrored' | 'grey' | (typeof TURNS)[number],
): Promise<string> {
  await fs.mkdir(dir, { recursive: true });
  const copy = path.join(dir, `${name}-${how}.jpg`);
  const image =
    how === 'mirrored' ? sharp(file).flop() : how === 'grey' ? sharp(file).greyscale() : sharp(file).rotate(how);
  await fs.writeFile(copy, await image.jpeg({ quality: 90 }).toBuffer());
  return copy;
}

/**
 * `size` products of PHOTOS_PER_PRODUCT photos, dealt from the classes in turn; when the photos run out, every
 * class's pool grows by mirrored copies of its first MIRRORED_PER_CLASS photos (written under `dir`).
 */
async function shopOf(pools: Map<number, string[]>, size: number, dir: string): Promise<Product[]> {
  const classes = [...pools.keys()].sort((a, b) => a - b);
  const deal = () => {
    const products: Product[] = [];
    const rounds = Math.max(...[...pools.values()].map((files) => files.length)) / PHOTOS_PER_PRODUCT;
    for (let round = 0; round < rounds; round++)
      for (const classId of classes) {
        const files = pools.get(classId)!.slice(round * PHOTOS_PER_PRODUCT, (round + 1) * PHOTOS_PER_PRODUCT);
        if (files.length === PHOTOS_PER_PRODUCT && products.length < size)
          products.push({ name: `class-${classId}-product-${round}`, files });
      }
    return products;
  };
  if (deal().length < size && ![...pools.values()][0].some((file) => file.startsWith(dir)))
    for (const classId of classes) {
      const files = pools.get(classId)!;
      const copies = files
        .slice(0, MIRRORED_PER_CLASS)
        .map((file, i) => alteredCopy(file, dir, `class-${classId}-${i}`, 'mirrored'));
      // Whole products of copies, after the originals' last whole product.
      const whole = files.length - (files.length % PHOTOS_PER_PRODUCT);
      pools.set(classId, [...files.slice(0, whole), ...(await Promise.all(copies))]);
    }
  const products = deal();
  if (products.length < size) throw new Error(`the grocery photos make ${products.length} products, not ${size}`);
  return products;
}

/** The shop with a turned copy of the first photo of every NEW_PHOTO_EVERY-th product added to it. */
async function withNewPhotos(products: Product[], dir: string, turn: (typeof TURNS)[number]): Promise<Product[]> {
  return Promise.all(
    products.map(async (product, i) =>
      i % NEW_PHOTO_EVERY
        ? product
        : { ...product, files: [...product.files, await alteredCopy(product.files[0], dir, product.name, turn)] },
    ),
  );
}

async function statedBy(dir: string): Promise<Stated> {
  const metadata = JSON.parse(await fs.readFile(path.join(dir, 'metadata.json'), 'utf8'));
  const { recognition, metrics } = metadata;
  return {
    iterations: metrics.headIterations,
    crossValidated: recognition.crossValidation.correctAccept,
    scale: recognition.logitScale,
    named: recognition.estimatedCorrectAccept,
    wrong: recognition.estimatedFalseAccept,
  };
}

function shape(products: Product[]) {
  return { products: products.length, photos: products.reduce((n, p) => n + p.files.length, 0) };
}

function cliRun(products: Product[], how: string, summary: CliSummary, seconds: number, stated: Stated): Run {
  return {
    ...shape(products),
    how,
    seconds,
    stages: summary.secondsPerStage,
    peakRssMB: summary.peakRssMB,
    cpuSeconds: summary.cpuSeconds,
    stated,
  };
}

/** Per shop and kind of run, the run of median total time (of RETRAINS retrains), and how many there were. */
function medians(runs: Run[]): (Run & { count: number })[] {
  const groups = new Map<string, Run[]>();
  for (const run of runs) {
    const key = `${run.products} ${run.how}`;
    groups.set(key, [...(groups.get(key) ?? []), run]);
  }
  return [...groups.values()].map((group) => {
    const sorted = [...group].sort((a, b) => a.seconds - b.seconds);
    return { ...sorted[(sorted.length - 1) >> 1], count: group.length };
  });
}

function printTables(all: Run[], referenceSeconds: number): void {
  const runs = medians(all);
  const header = [
    'products',
    'photos',
    'run',
    'runs',
    'total s',
    '× TM',
    'embedding s',
    'training s',
    'exporting s',
    'peak RSS MB',
    'CPU s',
    'iterations',
    'CV named',
    'gate scale',
    'est. named',
    'est. wrong',
  ];
  const rows = runs.map((r) => [
    String(r.products),
    String(r.photos),
    r.how,
    String(r.count),
    r.seconds.toFixed(2),
    r.products === REFERENCE_PRODUCTS ? (r.seconds / referenceSeconds).toFixed(3) : '',
    (r.stages.embedding ?? 0).toFixed(2),
    (r.stages.training ?? 0).toFixed(2),
    (r.stages.exporting ?? 0).toFixed(2),
    r.peakRssMB === null ? '' : String(r.peakRssMB),
    r.cpuSeconds.toFixed(1),
    String(r.stated.iterations),
    r.stated.crossValidated.toFixed(3),
    r.stated.scale.toFixed(3),
    r.stated.named.toFixed(3),
    r.stated.wrong.toFixed(4),
  ]);
  console.log(
    `\nCost by shop size (k = ${PHOTOS_PER_PRODUCT}; a retrain adds a photo to every ${NEW_PHOTO_EVERY}th product; ` +
      `of several runs, the one of median total time). ` +
      `CLI total: process start to files written; service: one training in a running process, downloads and upload ` +
      `not included. TM = Teachable Machine's recipe in Node at ${REFERENCE_PRODUCTS} products, this run: ` +
      `${referenceSeconds.toFixed(1)} s.`,
  );
  console.log(table([header, ...rows]));
  const daily = runs.find((r) => r.products === REFERENCE_PRODUCTS && r.how === 'service, retrain from the last model');
  if (daily) {
    const cores = (shops: number) => ((shops * daily.cpuSeconds) / 86_400).toFixed(1);
    console.log(
      `\nA shop of ${REFERENCE_PRODUCTS} products retrained once a day in the service: ${daily.cpuSeconds.toFixed(1)} ` +
        `CPU-seconds; spread over the day, 10,000 shops keep ${cores(10_000)} cores busy and 100,000 shops ` +
        `${cores(100_000)} (training only: downloads and uploads wait on the network).`,
    );
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
