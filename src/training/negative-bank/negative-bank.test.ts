/** Unit tests of the negative bank file and its class exclusions. */
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { mulberry32, type TrainingSet } from '../ml/training-set';
import {
  BANK_EMBEDDINGS_FILE,
  BANK_MANIFEST_FILE,
  BANK_VIEWS,
  loadBankClasses,
  bankWithoutShopProducts,
  loadNegativeBank,
  NEGATIVE_BANK_DIR,
  quantizeBank,
  type NegativeBankManifest,
} from './negative-bank';
import { EMBEDDING_SIZE } from '../../common/model-shape';

describe('negative bank', () => {
  it('ships embeddings of the listed classes for the default base model, and none for another base', async () => {
    const manifest = JSON.parse(
      await fs.readFile(path.join(NEGATIVE_BANK_DIR, BANK_MANIFEST_FILE), 'utf8'),
    ) as NegativeBankManifest;
    const classes = await loadBankClasses();
    assert.ok(classes.length > 0 && classes.length <= 40, `${classes.length} classes (at most 40)`);
    assert.deepEqual(
      [...new Set(manifest.sources.map((s) => path.basename(path.dirname(s))))].sort(),
      [...classes].sort(),
    );
    assert.deepEqual(manifest.views, BANK_VIEWS);
    const bank = await loadNegativeBank(manifest.baseModelSha256);
    assert.ok(bank);
    assert.equal(bank.bytes.length, manifest.photos * BANK_VIEWS.length * EMBEDDING_SIZE);
    assert.equal(new Set(bank.photos).size, manifest.photos);
    assert.equal(await loadNegativeBank('0'.repeat(64)), null);
  });

  it('stores each value in a byte, within half a step', async () => {
    const values = Float32Array.from({ length: EMBEDDING_SIZE * 2 }, (_, i) => (i % 97) / 16);
    const { bytes, scale } = quantizeBank(values);
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'bank-'));
    try {
      const manifest: NegativeBankManifest = {
        baseModelSha256: 'x',
        views: ['centre'],
        photos: 2,
        scale,
        sources: ['a', 'b'],
      };
      await fs.writeFile(path.join(dir, BANK_MANIFEST_FILE), JSON.stringify(manifest));
      await fs.writeFile(path.join(dir, BANK_EMBEDDINGS_FILE), bytes);
      const bank = (await loadNegativeBank('x', dir))!;
      bank.bytes.forEach((b, i) => assert.ok(Math.abs(b * bank.scale - values[i]) <= scale / 2 + 1e-6));
      await fs.writeFile(path.join(dir, BANK_EMBEDDINGS_FILE), bytes.subarray(1));
      await assert.rejects(loadNegativeBank('x', dir), /embeddings.bin has 2559 bytes/);
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  it('leaves out the bank classes the shop sells', () => {
    const random = mulberry32(9);
    const prototype = () => Float32Array.from({ length: EMBEDDING_SIZE }, () => (random() < 0.3 ? random() * 3 : 0));
    const [tea, coffee, soap] = [prototype(), prototype(), prototype()];
    const noisy = (p: Float32Array) => p.map((v) => Math.max(0, v + (random() - 0.5) * 0.3));
    // The bank: 3 photos of coffee, 3 of soap, 2 views each.
    const photos = [coffee, coffee, coffee, soap, soap, soap];
    const values = new Float32Array(photos.length * 2 * EMBEDDING_SIZE);
    photos.forEach((p, i) => [0, 1].forEach((v) => values.set(noisy(p), (i * 2 + v) * EMBEDDING_SIZE)));
    const bank = {
      ...quantizeBank(values),
      photos: Int32Array.from({ length: 12 }, (_, r) => Math.floor(r / 2)),
      classOfPhoto: ['Coffee', 'Coffee', 'Coffee', 'Soap', 'Soap', 'Soap'],
      views: 2,
    };
    // The shop sells tea and coffee (other photos of it).
    const shopPhotos = [tea, tea, coffee, coffee].map(noisy);
    const shop: TrainingSet = {
      embeddings: new Float32Array(4 * EMBEDDING_SIZE),
      labels: Int32Array.from([0, 0, 1, 1]),
      photos: Int32Array.from([0, 1, 2, 3]),
      plain: new Uint8Array(4).fill(1),
      classCount: 2,
    };
    shopPhotos.forEach((p, i) => shop.embeddings.set(p, i * EMBEDDING_SIZE));
    const { negatives, leftOut } = bankWithoutShopProducts(bank, shop);
    assert.deepEqual(leftOut, ['Coffee']);
    assert.deepEqual(Array.from(negatives.photos), [3, 3, 4, 4, 5, 5]);
    assert.deepEqual(negatives.bytes, bank.bytes.subarray(6 * EMBEDDING_SIZE));
    assert.deepEqual(
      bankWithoutShopProducts(bank, { ...shop, labels: Int32Array.from([0, 0, 0, 0]), classCount: 1 }).leftOut,
      [],
    );
  });
});
