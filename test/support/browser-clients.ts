/**
 * Test support: the exported model in Chromium, in Teachable Machine's loader and the shop's web app, against what the
 * trainer predicts. `npm test` runs it on the tests' random base model (test/browser.e2e.test.ts) and `npm run
 * test:data` on the real one (test/data/browser.data.test.ts): only the real one recognises photos, so only there
 * does the top-1 agree after Teachable Machine's own resizing (a random model's top-1 flips with a pixel).
 */
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type * as TF from '@tensorflow/tfjs';
import type { TestingModule } from '@nestjs/testing';
import type { Browser, Page } from 'playwright-core';
import sharp from 'sharp';
import { DatasetService } from '../../src/dataset/dataset.service';
import { decodeImage, preprocessImage } from '../../src/dataset/preprocess';
import { loadTensorflow } from '../../src/training/ml/backend';
import { loadLayersModelFromFile } from '../../src/training/ml/model-files';
import { launchChromium, NO_CHROMIUM } from './browser';
import { groceryFolder, tempDir } from './fixtures';
import { PROJECT_ROOT, type GroceryDataset } from './shared';
import { StaticServer } from './static-server';
import { modelTrainer, trainerContext } from './trainer-context';

/** Photos compared: the val photos of the trained products, then others, as JPEG; and some already 224×224, as PNG. */
const OTHER_VAL_PHOTOS = 76;
const SQUARE_PHOTOS = 20;

/** The two pages (plain HTML + JS, as a client would write them), in test/browser. */
const PAGES = path.join(PROJECT_ROOT, 'test', 'browser');

const argmax = (p: ArrayLike<number>) => Array.from(p).reduce((best, v, i, all) => (v > all[best] ? i : best), 0);

export interface BrowserClientsOptions {
  /** The base model's model.json. */
  baseModel: string;
  /** Where the training and val photos come from. */
  photos: GroceryDataset;
  /**
   * Whether Teachable Machine's loader, which resizes photos its own way, must name the trainer's top product (97 %)
   * and take the same accept/reject decision: true for the real base model only.
   */
  resizedAgreement: boolean;
  /** The four products (class ids of `photos`) the model is trained on; the other classes' val photos are unknowns. */
  classes: number[];
  /** GROCERY_DATASET_URL for the trainings (the real photos' folder); without it they go without a negative bank. */
  groceryDataset?: string;
}

export function describeBrowserClients({
  baseModel,
  photos: source,
  resizedAgreement,
  classes,
  groceryDataset,
}: BrowserClientsOptions): void {
  describe('the exported model in the browser clients that use it (Chromium)', { skip: NO_CHROMIUM }, () => {
    let work: string;
    let app: TestingModule;
    let browser: Browser;
    let server: StaticServer;
    let tf: typeof TF;
    /** `known`: a photo of one of the trained products (the others show products the model should be unsure of). */
    const photos: { route: string; file: string; square: boolean; known: boolean }[] = [];

    before(async () => {
      work = await tempDir('browser');
      app = await trainerContext(path.join(work, 'cache'), {
        BASE_MODEL_URL: baseModel,
        ...(groceryDataset ? { GROCERY_DATASET_URL: groceryDataset } : {}),
      });
      const folder = path.join(work, 'photos');
      await groceryFolder(folder, classes, 10, 0, source);
      const dataset = await app.get(DatasetService).fromFolder(folder);
      const trainer = modelTrainer(app);
      await trainer.train({ dataset, outDir: path.join(work, 'model-tm'), modelName: 'tm', inputRange: 'tm' });
      await trainer.train({ dataset, outDir: path.join(work, 'model-unit'), modelName: 'unit', inputRange: 'unit' });

      const val = source.photos('val');
      const chosen = [
        ...val.filter((p) => classes.includes(p.classId)),
        ...val.filter((p) => !classes.includes(p.classId)).slice(0, OTHER_VAL_PHOTOS),
      ];
      const known = (p: { classId: number }) => classes.includes(p.classId);
      chosen.forEach((p, i) =>
        photos.push({ route: `/photos/${i}.jpg`, file: p.file, square: false, known: known(p) }),
      );
      for (const [i, p] of chosen.slice(0, SQUARE_PHOTOS).entries()) {
        const file = path.join(work, `square-${i}.png`);
        await sharp(p.file).resize(224, 224, { fit: 'cover' }).png().toFile(file);
        photos.push({ route: `/square/${i}.png`, file, square: true, known: known(p) });
      }

      const routes = new Map<string, string | Buffer>([
        ['/lib/tf-1.3.1.min.js', path.join(path.dirname(require.resolve('tfjs-v1/package.json')), 'dist', 'tf.min.js')],
        [
          '/lib/teachablemachine-image.min.js',
          path.join(
            path.dirname(require.resolve('@teachablemachine/image/package.json')),
            'dist',
            'teachablemachine-image.min.js',
          ),
        ],
        [
          '/lib/tf-4.min.js',
          path.join(path.dirname(require.resolve('@tensorflow/tfjs/package.json')), 'dist', 'tf.min.js'),
        ],
        ['/tm.html', path.join(PAGES, 'tm-page.html')],
        ['/webapp.html', path.join(PAGES, 'webapp-page.html')],
      ]);
      for (const range of ['tm', 'unit']) {
        for (const file of ['model.json', 'weights.bin', 'metadata.json'])
          routes.set(`/model-${range}/${file}`, path.join(work, `model-${range}`, file));
      }
      for (const photo of photos) routes.set(photo.route, photo.file);
      server = await new StaticServer(routes).start();
      browser = await launchChromium();
      ({ tf } = await loadTensorflow('auto'));
    });
    after(async () => {
      await browser?.close();
      await server?.stop();
      await app?.close();
      await fs.rm(work, { recursive: true, force: true });
    });

    /** Opens a page, and checks on close that it fetched nothing but loopback URLs (no CDN). */
    async function withPage<T>(route: string, use: (page: Page) => Promise<T>): Promise<T> {
      const page = await browser.newPage();
      const requests: string[] = [];
      page.on('request', (r) => requests.push(r.url()));
      try {
        await page.goto(`${server.url}${route}`);
        return await use(page);
      } finally {
        await page.close();
        assert.deepEqual(
          requests.filter((u) => !u.startsWith(server.url)),
          [],
          'the page fetched only loopback URLs',
        );
      }
    }

    /** Runs the page's predictAll over every photo. */
    function predictInPage<T>(page: Page, modelBase: string): Promise<{ backend: string; predictions: T[] }> {
      const routes = JSON.stringify(photos.map((p) => p.route));
      return page.evaluate(`predictAll(${JSON.stringify(server.url + modelBase)}, ${routes})`);
    }

    it('Teachable Machine’s loader (tfjs 1.3.1) predicts what the trainer predicts', async (t) => {
      const { backend, predictions: inBrowser } = await withPage('/tm.html', (page) =>
        predictInPage<number[]>(page, '/model-tm'),
      );

      const model = await loadLayersModelFromFile(tf, path.join(work, 'model-tm', 'model.json'));
      let agree = 0;
      let sameDecision = 0;
      let accepted = 0;
      let squareMaxDifference = 0;
      // The gate is baked into the model: both sides accept the top product at 0.9.
      const decision = (p: ArrayLike<number>) => (Math.max(...Array.from(p)) >= 0.9 ? argmax(p) : null);
      for (const [i, photo] of photos.entries()) {
        const { pixels } = await preprocessImage(await fs.readFile(photo.file));
        const ours = tf.tidy(() => (model.predict(tf.tensor4d(pixels, [1, 224, 224, 3])) as TF.Tensor).dataSync());
        if (photo.known && argmax(ours) === argmax(inBrowser[i])) agree++;
        if (decision(ours) === decision(inBrowser[i])) sameDecision++;
        if (decision(ours) !== null) accepted++;
        if (photo.square)
          ours.forEach((p, c) => (squareMaxDifference = Math.max(squareMaxDifference, Math.abs(p - inBrowser[i][c]))));
      }
      const knownPhotos = photos.filter((p) => p.known).length;
      const agreement = agree / knownPhotos;
      t.diagnostic(
        `Teachable Machine loader (browser backend ${backend}): same top-1 on ${agree}/${knownPhotos} photos of the trained products (${(100 * agreement).toFixed(1)}%), same accept/reject at 0.9 on ${sameDecision}/${photos.length} (the trainer accepts ${accepted}); 224×224 photos: max probability difference ${squareMaxDifference.toExponential(2)}`,
      );
      // 224×224 photos reach the model as the same pixels on both sides: any base model gives the same probabilities.
      assert.ok(squareMaxDifference < 1e-3, `224×224 photos differ by ${squareMaxDifference}`);
      if (resizedAgreement) {
        assert.ok(agreement >= 0.97, `top-1 agreement ${agreement}`);
        assert.ok(sameDecision / photos.length >= 0.97, `same decision on ${sameDecision}/${photos.length}`);
      }
    });

    it('the shop’s web app path (tfjs 4, whole frame squashed, x / 255, threshold 0.9) agrees with the trainer', async (t) => {
      const metadata = JSON.parse(await fs.readFile(path.join(work, 'model-unit', 'metadata.json'), 'utf8'));
      assert.deepEqual(metadata.preprocessing.inputRange, [0, 1]);
      assert.equal(metadata.recognition.threshold, 0.9, 'the web app’s own threshold is the gate’s');
      type WebAppPrediction = { probabilities: number[]; accepted: string | null };
      const { backend, predictions: inBrowser } = await withPage('/webapp.html', (page) =>
        predictInPage<WebAppPrediction>(page, '/model-unit'),
      );

      const model = await loadLayersModelFromFile(tf, path.join(work, 'model-unit', 'model.json'));
      let agree = 0;
      let sameDecision = 0;
      for (const [i, photo] of photos.entries()) {
        const { rgb, width, height } = await decodeImage(await fs.readFile(photo.file));
        const ours = tf.tidy(() => {
          const input = tf.image
            .resizeBilinear(tf.tensor3d(rgb, [height, width, 3], 'int32'), [224, 224])
            .div(255)
            .expandDims(0);
          return (model.predict(input) as TF.Tensor).dataSync();
        });
        const top = argmax(ours);
        if (photo.known && top === argmax(inBrowser[i].probabilities)) agree++;
        if ((ours[top] >= 0.9 ? metadata.labels[top] : null) === inBrowser[i].accepted) sameDecision++;
      }
      const knownPhotos = photos.filter((p) => p.known).length;
      const agreement = agree / knownPhotos;
      t.diagnostic(
        `web app path (browser backend ${backend}): same top-1 on ${agree}/${knownPhotos} photos of the trained products (${(100 * agreement).toFixed(1)}%), same accept/reject at 0.9 on ${sameDecision}/${photos.length}; gate: ${JSON.stringify({ ...metadata.recognition, lookAlikes: undefined, advice: undefined })}`,
      );
      assert.ok(agreement >= 0.97, `top-1 agreement ${agreement}`);
      assert.ok(sameDecision / photos.length >= 0.97, `same decision on ${sameDecision}/${photos.length}`);

      // The rescaling layer loads in TensorFlow.js 1.3.1 too, and computes what tfjs 4 computes.
      const v1 = await withPage('/tm.html', (page) =>
        page.evaluate(`predictGrey(${JSON.stringify(`${server.url}/model-unit/model.json`)}, 0.5)`),
      );
      const v4 = tf.tidy(() => (model.predict(tf.fill([1, 224, 224, 3], 0.5)) as TF.Tensor).dataSync());
      const difference = Math.max(...Array.from(v4, (p, i) => Math.abs(p - (v1 as number[])[i])));
      assert.ok(difference < 1e-4, `tfjs 1.3.1 and 4 differ by ${difference} on the unit model`);
    });
  });
}
