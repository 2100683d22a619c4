/**
 * Test support: photos of made-up products, rendered (sharp from SVG) so that no test needs a third-party photo. A
 * product's look (shape, colours, the pattern printed on its label) follows from its name; a scene (background,
 * angle, size, position, light) from a seed, so "other-day" photos of a product differ from its enrolment photos
 * the way a till's do. Rendered once per machine into the temp folder.
 */
import { createHash, randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import { DEMO_PHOTO_LIST, DEMO_SCAN_LIST } from '../../src/demo/demo';
import { photoClass, readPhotoList } from '../../src/dataset/public-dataset';
import { loadBankDefinition } from '../../src/training/negative-bank/negative-bank';
import { mulberry32 } from '../../src/training/ml/training-set';

/** Bumped when the renderer changes, so that a machine's earlier photos are not reused. */
const RENDERER_VERSION = 1;

const SHAPES = ['round', 'box', 'bottle', 'carton', 'bag'] as const;

/** What a product looks like: the same in every photo of it. */
interface ProductLook {
  shape: (typeof SHAPES)[number];
  hue: number;
  labelHue: number;
  /** Stripes, dots or a chevron on the label, in this many repeats. */
  pattern: 'stripes' | 'dots' | 'chevron';
  repeats: number;
}

/** Where and how a photo was taken. */
interface Scene {
  backgroundHue: number;
  backgroundLightness: number;
  angle: number;
  scale: number;
  dx: number;
  dy: number;
  /** Multiplies every channel: the shop's light. */
  light: number;
}

/** A number from the name, so the same product always looks the same. */
function nameSeed(name: string): number {
  let h = 2166136261;
  for (const c of name) h = Math.imul(h ^ c.charCodeAt(0), 16777619);
  return h >>> 0;
}

export function productLook(name: string): ProductLook {
  const random = mulberry32(nameSeed(name));
  return {
    shape: SHAPES[Math.floor(random() * SHAPES.length)],
    hue: Math.floor(random() * 360),
    labelHue: Math.floor(random() * 360),
    pattern: (['stripes', 'dots', 'chevron'] as const)[Math.floor(random() * 3)],
    repeats: 2 + Math.floor(random() * 5),
  };
}

/**
 * A scene for photo `index` of a product; `occasion` 0 is the enrolment day, others are other days (another light,
 * other backgrounds, wider angles).
 */
export function scene(index: number, occasion = 0): Scene {
  const random = mulberry32(index * 7919 + occasion * 104729 + 1);
  const otherDay = occasion > 0;
  return {
    backgroundHue: Math.floor(random() * 360),
    backgroundLightness: otherDay ? 20 + random() * 60 : 70 + random() * 20,
    angle: (random() - 0.5) * (otherDay ? 70 : 30),
    scale: 0.75 + random() * (otherDay ? 0.5 : 0.3),
    dx: (random() - 0.5) * (otherDay ? 0.3 : 0.15),
    dy: (random() - 0.5) * (otherDay ? 0.3 : 0.15),
    light: otherDay ? 0.6 + random() * 0.7 : 0.9 + random() * 0.2,
  };
}

function productSvg(look: ProductLook, size: number): string {
  const body = `hsl(${look.hue},65%,50%)`;
  const label = `hsl(${look.labelHue},70%,80%)`;
  const ink = `hsl(${(look.labelHue + 180) % 360},60%,30%)`;
  const outline: Record<ProductLook['shape'], string> = {
    round: `<circle cx="50" cy="50" r="38" fill="${body}"/>`,
    box: `<rect x="14" y="20" width="72" height="60" rx="4" fill="${body}"/>`,
    bottle: `<path d="M42 8h16v16l10 12v56h-36v-56l10-12z" fill="${body}"/>`,
    carton: `<path d="M26 24l24-14 24 14v66h-48z" fill="${body}"/>`,
    bag: `<path d="M20 22q30-12 60 0l6 68h-72z" fill="${body}"/>`,
  };
  const marks = Array.from({ length: look.repeats }, (_, i) => {
    const x = 30 + ((i + 0.5) * 40) / look.repeats;
    if (look.pattern === 'stripes') return `<rect x="${x - 2}" y="44" width="4" height="22" fill="${ink}"/>`;
    if (look.pattern === 'dots') return `<circle cx="${x}" cy="55" r="3" fill="${ink}"/>`;
    return `<path d="M${x - 4} 60l4-8 4 8" stroke="${ink}" stroke-width="2" fill="none"/>`;
  }).join('');
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${size}" height="${size}" viewBox="0 0 100 100">` +
    `${outline[look.shape]}<rect x="28" y="42" width="44" height="26" fill="${label}"/>${marks}</svg>`
  );
}

/** A JPEG of the product in the scene, `size` pixels square. */
export async function renderPhoto(look: ProductLook, where: Scene, size = 224): Promise<Buffer> {
  const productSize = Math.round(size * where.scale);
  const product = await sharp(Buffer.from(productSvg(look, productSize)))
    .rotate(where.angle, { background: { r: 0, g: 0, b: 0, alpha: 0 } })
    .png()
    .toBuffer({ resolveWithObject: true });
  const left = Math.round((size - product.info.width) / 2 + where.dx * size);
  const top = Math.round((size - product.info.height) / 2 + where.dy * size);
  const background = `hsl(${where.backgroundHue},35%,${where.backgroundLightness}%)`;
  const backdrop =
    `<svg xmlns="http://www.w3.org/2000/svg" width="${size}" height="${size}">` +
    `<rect width="${size}" height="${size}" fill="${background}"/>` +
    `<rect y="${size * 0.7}" width="${size}" height="${size * 0.3}" fill="hsl(${where.backgroundHue},20%,40%)"/></svg>`;
  // The rotated product may be larger than the photo: crop it to what falls inside.
  const cropLeft = Math.max(0, -left);
  const cropTop = Math.max(0, -top);
  const visible = await sharp(product.data)
    .extract({
      left: cropLeft,
      top: cropTop,
      width: Math.min(product.info.width - cropLeft, size - Math.max(0, left)),
      height: Math.min(product.info.height - cropTop, size - Math.max(0, top)),
    })
    .toBuffer();
  return sharp(Buffer.from(backdrop))
    .composite([{ input: visible, left: Math.max(0, left), top: Math.max(0, top) }])
    .linear(where.light, 0)
    .jpeg({ quality: 90 })
    .toBuffer();
}

/**
 * A folder written once per machine (in the temp folder, under `name` and the renderer's version) by `write`, into a
 * staging folder that is then renamed, so concurrent test processes never see half of it.
 */
function renderedFolder(name: string): string {
  return path.join(os.tmpdir(), 'ml-trainer-test-photos', `${name}-v${RENDERER_VERSION}`);
}

async function renderedOnce(name: string, write: (dir: string) => Promise<void>): Promise<string> {
  const dir = renderedFolder(name);
  if (await fs.stat(path.join(dir, '.complete')).catch(() => undefined)) return dir;
  const staging = `${dir}.staging-${randomUUID()}`;
  await fs.mkdir(staging, { recursive: true });
  try {
    await write(staging);
    await fs.writeFile(path.join(staging, '.complete'), '');
    await fs.rename(staging, dir).catch((err: NodeJS.ErrnoException) => {
      // Another process rendered the same photos first: theirs are as good.
      if (err.code !== 'ENOTEMPTY' && err.code !== 'EEXIST') throw err;
    });
    return dir;
  } finally {
    await fs.rm(staging, { recursive: true, force: true });
  }
}

/**
 * A stand-in for the Grocery Store Dataset's `dataset/` folder with a rendered photo at every path of the negative
 * bank's definition and of the demo's list (each class a made-up product, 128 pixels square): what
 * GROCERY_DATASET_URL names in tests.
 */
export async function renderedGroceryDataset(): Promise<string> {
  const lists = await Promise.all([
    loadBankDefinition(),
    readPhotoList(DEMO_PHOTO_LIST),
    readPhotoList(DEMO_SCAN_LIST),
  ]);
  const key = createHash('sha256')
    .update(lists.map((l) => l.sha256).join())
    .digest('hex');
  return renderedOnce(`grocery-${key.slice(0, 12)}`, async (dir) => {
    for (const [i, photo] of lists.flatMap((l) => l.photos).entries()) {
      const file = path.join(dir, photo);
      await fs.mkdir(path.dirname(file), { recursive: true });
      await fs.writeFile(file, await renderPhoto(productLook(photoClass(photo)), scene(i), 128));
    }
  });
}

/** The tests' shop: five made-up products (class ids 0–4, in this order)… */
const SHOP_PRODUCTS = ['Bright-Tea', 'Oat-Drink', 'Soap-Bar', 'Rice-Bag', 'Cocoa-Tin'];
/** …and sixteen it does not sell (ids 5–20), for the scans of things the model should be unsure of. */
const OTHER_PRODUCTS = [
  'Lemon-Soda',
  'Dish-Sponge',
  'Corn-Flakes',
  'Tomato-Jar',
  'Honey-Pot',
  'Salt-Box',
  'Green-Peas',
  'Apple-Juice',
  'Dog-Biscuits',
  'Chili-Sauce',
  'Flour-Sack',
  'Mint-Gum',
  'Olive-Oil',
  'Paper-Towels',
  'Sugar-Cubes',
  'Baby-Wipes',
];
/** Photos of each shop product taken on the enrolment day, and of every product on other days. */
const ENROLMENT_PHOTOS = 12;
const OTHER_DAY_PHOTOS = 5;
/** As large as the Grocery Store Dataset's photos. */
const PHOTO_SIZE = 348;

/** Where renderedTestPhotos() writes them (known before they are written, for the tests' constants). */
export const RENDERED_TEST_PHOTOS_DIR = renderedFolder('shop');

/**
 * The tests' photos, laid out as the Grocery Store Dataset ships its own (`classes.csv`, `train.txt`, `val.txt`:
 * path, class id, coarse class id): `sample-shop/<product>/` holds twelve enrolment photos of each shop product (the
 * train split; also a photo folder the CLI trains on), `val/<product>/` five other-day photos of every product.
 */
export function renderedTestPhotos(): Promise<string> {
  return renderedOnce('shop', async (dir) => {
    const products = [...SHOP_PRODUCTS, ...OTHER_PRODUCTS];
    const header = 'Class Name (str),Class ID (int),Coarse Class Name (str),Coarse Class ID (int)';
    const classes = products.map((name, id) => `${name},${id},${name},${id}`);
    const lists: Record<'train' | 'val', string[]> = { train: [], val: [] };
    const write = async (split: 'train' | 'val', folder: string, id: number, index: number, occasion: number) => {
      const name = products[id];
      const file = path.posix.join(folder, name, `${name}_${String(index + 1).padStart(3, '0')}.jpg`);
      await fs.mkdir(path.join(dir, path.dirname(file)), { recursive: true });
      const photo = await renderPhoto(productLook(name), scene(id * 100 + index, occasion), PHOTO_SIZE);
      await fs.writeFile(path.join(dir, file), photo);
      lists[split].push(`${file}, ${id}, ${id}`);
    };
    for (const id of SHOP_PRODUCTS.keys())
      for (let i = 0; i < ENROLMENT_PHOTOS; i++) await write('train', 'sample-shop', id, i, 0);
    for (const id of products.keys())
      for (let i = 0; i < OTHER_DAY_PHOTOS; i++) await write('val', 'val', id, i, 1 + i);
    await fs.writeFile(path.join(dir, 'classes.csv'), [header, ...classes].join('\n') + '\n');
    for (const split of ['train', 'val'] as const)
      await fs.writeFile(path.join(dir, `${split}.txt`), lists[split].join('\n') + '\n');
  });
}
