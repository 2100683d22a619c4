/** Unit tests of the negative bank's definition, its cached file and its class exclusions. */
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { mulberry32, type TrainingSet } from '../ml/training-set';
import {
  bankWithoutShopProducts,
  loadBankDefinition,
  negativeBankOf,
  readNegativeBank,
  writeNegativeBank,
} from './negative-bank';
import { EMBEDDING_SIZE } from '../../config/model-shape';

describe('negative bank', () => {
  it('is defined by photo paths inside the Grocery Store Dataset: 644 photos of 21 classes', async () => {
    const definition = await loadBankDefinition();
    assert.equal(definition.photos.length, 644);
    assert.equal(new Set(definition.photos).size, 644);
    const classes = new Set(definition.photos.map((p) => path.posix.basename(path.posix.dirname(p))));
    assert.equal(classes.size, 21);
    assert.ok(definition.photos.every((p) => p.startsWith('train/')));
    assert.match(definition.sha256, /^[0-9a-f]{64}$/);
  });

  it('is cached as one byte a value, within half a step, and read back only when intact and asked for', async () => {
    const values = Float32Array.from({ length: EMBEDDING_SIZE * 2 }, (_, i) => (i % 97) / 16);
    const sources = ['train/Fruit/Apple/A/A_1.jpg', 'train/Juice/B/B_1.jpg'];
    const bank = negativeBankOf(sources, values);
    assert.deepEqual(bank.classOfPhoto, ['A', 'B']);
    bank.bytes.forEach((b, i) => assert.ok(Math.abs(b * bank.scale - values[i]) <= bank.scale / 2 + 1e-6));
    const root = await fs.mkdtemp(path.join(os.tmpdir(), 'bank-'));
    const dir = path.join(root, 'bank');
    const identity = { baseModelSha256: 'a'.repeat(64), definitionSha256: 'b'.repeat(64) };
    try {
      await writeNegativeBank(dir, identity, sources, bank);
      assert.deepEqual(await fs.readdir(root), ['bank']);
      const read = (await readNegativeBank(dir, identity))!;
      assert.deepEqual(read.bytes, bank.bytes);
      assert.equal(read.scale, bank.scale);
      assert.deepEqual(read.classOfPhoto, ['A', 'B']);
      assert.equal(await readNegativeBank(dir, { ...identity, baseModelSha256: 'c'.repeat(64) }), null);
      assert.equal(await readNegativeBank(dir, { ...identity, definitionSha256: 'c'.repeat(64) }), null);
      const file = path.join(dir, 'embeddings.bin');
      const bytes = await fs.readFile(file);
      bytes[100] ^= 1;
      await fs.writeFile(file, bytes);
      assert.equal(await readNegativeBank(dir, identity), null, 'one changed byte');
      await fs.writeFile(file, bytes.subarray(1));
      assert.equal(await readNegativeBank(dir, identity), null, 'one byte short');
      assert.equal(await readNegativeBank(path.join(root, 'absent'), identity), null);
      assert.throws(() => negativeBankOf(sources, values.subarray(1)), /2 bank photos need 2560 values, got 2559/);
      assert.throws(
        () =>
          negativeBankOf(
            sources,
            values.map((v, i) => (i === 7 ? NaN : v)),
          ),
        /not finite/,
      );
    } finally {
      await fs.rm(root, { recursive: true, force: true });
    }
  });

  it('leaves out the bank classes the shop sells', () => {
    const random = mulberry32(9);
    const prototype = () => Float32Array.from({ length: EMBEDDING_SIZE }, () => (random() < 0.3 ? random() * 3 : 0));
    const [tea, coffee, soap] = [prototype(), prototype(), prototype()];
    const noisy = (p: Float32Array) => p.map((v) => Math.max(0, v + (random() - 0.5) * 0.3));
    // The bank: 3 photos of coffee, 3 of soap.
    const photos = [coffee, coffee, coffee, soap, soap, soap];
    const values = new Float32Array(photos.length * EMBEDDING_SIZE);
    photos.forEach((p, i) => values.set(noisy(p), i * EMBEDDING_SIZE));
    const bank = negativeBankOf(
      ['Coffee', 'Coffee', 'Coffee', 'Soap', 'Soap', 'Soap'].map((c, i) => `train/${c}/${i}.jpg`),
      values,
    );
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
    assert.deepEqual(Array.from(negatives.photos), [3, 4, 5]);
    assert.deepEqual(negatives.bytes, bank.bytes.subarray(3 * EMBEDDING_SIZE));
    assert.deepEqual(
      bankWithoutShopProducts(bank, { ...shop, labels: Int32Array.from([0, 0, 0, 0]), classCount: 1 }).leftOut,
      [],
    );
  });
});
