import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { PROJECT_ROOT } from '../../src/common/project-files';
import { BUNDLED_BASE_MODEL } from '../../src/training/ml/base-model';

export { PROJECT_ROOT };

/** `../shared` beside the checkout: the grocery photos used by tests and benchmarks. */
export function sharedPath(...parts: string[]): string {
  return path.resolve(PROJECT_ROOT, '..', 'shared', ...parts);
}

/** The sample shop the project ships (five products, eight photos each): photos every checkout has. */
export const SAMPLE_SHOP_DIR = path.join(PROJECT_ROOT, 'test', 'fixtures', 'sample-shop', 'photos');

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

/** The base model the project ships (the same files as ../shared/models/mobilenet_v2_0.35_224_no_top). */
export const BASE_MODEL_JSON = BUNDLED_BASE_MODEL;
export const GROCERY_DIR = sharedPath('datasets', 'grocery', 'dataset');

export interface GroceryPhoto {
  /** Absolute path of the photo. */
  file: string;
  classId: number;
}

/** Photos of one split (`train` or `val`), in the order of the split's list. */
export function groceryPhotos(split: 'train' | 'val'): GroceryPhoto[] {
  return readGroceryFile(`${split}.txt`)
    .split('\n')
    .filter((line) => line.trim())
    .map((line) => {
      const [file, classId] = line.split(',').map((s) => s.trim());
      return { file: path.join(GROCERY_DIR, file), classId: Number(classId) };
    });
}

/** Class id → fine class name. */
export function groceryClassNames(): Map<number, string> {
  const rows = readGroceryFile('classes.csv').split('\n').slice(1);
  return new Map(rows.filter((r) => r.trim()).map((r) => [Number(r.split(',')[1]), r.split(',')[0]]));
}

/** A list file of the grocery dataset; without ../shared, an error that says what the test needs and where. */
function readGroceryFile(name: string): string {
  try {
    return readFileSync(path.join(GROCERY_DIR, name), 'utf8');
  } catch (err) {
    throw new Error(
      `this test needs the Grocery Store Dataset at ${GROCERY_DIR} (../shared beside the checkout; README, "Tests"): ` +
        `${(err as NodeJS.ErrnoException).code ?? err}`,
    );
  }
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

/** Four visually distinct grocery classes with six val photos each, for quick end-to-end training. */
export const QUICK_CLASSES = [6, 11, 32, 42];
