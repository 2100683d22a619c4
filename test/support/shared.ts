/** Test support: where the photos of the tests and benchmarks are. */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { PROJECT_ROOT } from '../../src/common/project-files';
import { randomBaseModel, randomBaseModelPath } from './random-base-model';
import { RENDERED_TEST_PHOTOS_DIR, renderedTestPhotos } from './rendered-photos';

export { PROJECT_ROOT };

/** `../shared` beside the checkout: the grocery photos used by tests and benchmarks. */
export function sharedPath(...parts: string[]): string {
  return path.resolve(PROJECT_ROOT, '..', 'shared', ...parts);
}

/**
 * The tests' shop (five made-up products, twelve rendered photos each, one sub-folder per product): photos every
 * checkout can make (rendered-photos.ts; ensureTestData() writes them).
 */
export const SAMPLE_SHOP_DIR = path.join(RENDERED_TEST_PHOTOS_DIR, 'sample-shop');

/** Every photo of the sample shop, product by product, in name order. */
export function samplePhotos(): string[] {
  return readdirSync(SAMPLE_SHOP_DIR)
    .sort()
    .flatMap((product) =>
      readdirSync(path.join(SAMPLE_SHOP_DIR, product))
        .sort()
        .map((file) => path.join(SAMPLE_SHOP_DIR, product, file)),
    );
}

/**
 * The tests' base model: MobileNet V2 0.35's topology with seeded random weights (random-base-model.ts), so that no
 * test needs a third-party model.
 */
export const BASE_MODEL_JSON = randomBaseModelPath(1);

/**
 * Writes what the tests read and no checkout holds (once per machine): the base model above and the rendered
 * photos. npm test's wrapper calls it before the run; a test file that runs alone (the unit tier) calls it itself.
 */
export async function ensureTestData(): Promise<void> {
  await Promise.all([randomBaseModel(1), renderedTestPhotos()]);
}

/**
 * GROCERY_DATASET_URL for tests that do not build a negative bank: a folder that does not exist, so trainings go
 * without the bank at once (and nothing is fetched from the dataset's public host). Bank tests render their own.
 */
export const NO_GROCERY_DATASET = path.join(PROJECT_ROOT, 'test', 'no-grocery-dataset');

/** Teachable Machine's base model as ../shared holds it: for `npm run test:data` and the benchmarks. */
export const REAL_BASE_MODEL_JSON = sharedPath('models', 'mobilenet_v2_0.35_224_no_top', 'model.json');

/**
 * Photos laid out as the Grocery Store Dataset ships them: `train.txt` and `val.txt` (path, fine class, coarse class;
 * paths relative to `root`) and `classes.csv`.
 */
export class GroceryDataset {
  constructor(
    readonly root: string,
    /** What to tell a user who does not have it. */
    private readonly where: string,
  ) {}

  /** Photos of one split (`train`, `val` or `dev`), in the order of the split's list. */
  photos(split: 'train' | 'val' | 'dev'): GroceryPhoto[] {
    return this.read(`${split}.txt`)
      .split('\n')
      .filter((line) => line.trim())
      .map((line) => {
        const [file, classId] = line.split(',').map((s) => s.trim());
        return { file: path.join(this.root, file), classId: Number(classId) };
      });
  }

  /** Class id → fine class name. */
  classNames(): Map<number, string> {
    const rows = this.read('classes.csv').split('\n').slice(1);
    return new Map(rows.filter((r) => r.trim()).map((r) => [Number(r.split(',')[1]), r.split(',')[0]]));
  }

  private read(name: string): string {
    try {
      return readFileSync(path.join(this.root, name), 'utf8');
    } catch (err) {
      throw new Error(`${this.where}: ${(err as NodeJS.ErrnoException).code ?? err}`);
    }
  }
}

/**
 * What the tests train on and scan: the rendered photos (rendered-photos.ts), whose train photos are the sample
 * shop's (12 of each of its 5 products, class ids 0-4) and whose val photos are other-day photos of those and of 16
 * products it does not sell.
 */
export const TEST_PHOTOS = new GroceryDataset(
  RENDERED_TEST_PHOTOS_DIR,
  `the tests' rendered photos are missing from ${RENDERED_TEST_PHOTOS_DIR} (ensureTestData() in test/support/shared.ts writes them; npm test does)`,
);

/** The whole Grocery Store Dataset in ../shared, for the benchmarks and `npm run test:data`. */
const GROCERY_DIR = sharedPath('datasets', 'grocery', 'dataset');
export const GROCERY = new GroceryDataset(
  GROCERY_DIR,
  `the benchmarks and test:data need the Grocery Store Dataset at ${GROCERY_DIR} (../shared beside the checkout; docs/accuracy.md)`,
);

/**
 * For `npm run test:data`: stops at once, saying where it looked, when ../shared lacks the real base model or the
 * dataset.
 */
export function requireSharedData(): void {
  const missing = [REAL_BASE_MODEL_JSON, path.join(GROCERY_DIR, 'train.txt')].filter((file) => !existsSync(file));
  if (missing.length)
    throw new Error(
      `npm run test:data reads the real base model and the Grocery Store Dataset from ../shared beside the checkout; ` +
        `missing: ${missing.join(', ')}`,
    );
}

export interface GroceryPhoto {
  /** Absolute path of the photo. */
  file: string;
  classId: number;
}

/** The first k photos of every class, as a shop owner would have them; `Infinity` keeps all. */
export function firstPerClass(photos: GroceryPhoto[], k: number): GroceryPhoto[] {
  const seen = new Map<number, number>();
  return photos.filter((p) => {
    const n = seen.get(p.classId) ?? 0;
    seen.set(p.classId, n + 1);
    return n < k;
  });
}

/** Four products of the sample shop (TEST_PHOTOS class ids), for quick end-to-end training. */
export const QUICK_CLASSES = [0, 1, 2, 3];

/**
 * Four visually distinct products of the Grocery Store Dataset (GROCERY class ids: Banana, Cantaloupe,
 * Garant-Ecological-Medium-Fat-Milk, Orange-Bell-Pepper), none in the negative bank, for test:data's trainings.
 */
export const GROCERY_QUICK_CLASSES = [6, 11, 32, 42];
