import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { EMBEDDING_SIZE } from '../ml/feature-extractor';
import {
  BANK_EMBEDDINGS_FILE,
  BANK_MANIFEST_FILE,
  BANK_VIEWS,
  loadBankClasses,
  loadNegativeBank,
  NEGATIVE_BANK_DIR,
  quantizeBank,
  type NegativeBankManifest,
} from './negative-bank';

describe('negative bank', () => {
  it('ships embeddings of the listed classes for the default base model, and none for another base', async () => {
    const manifest = JSON.parse(
      await fs.readFile(path.join(NEGATIVE_BANK_DIR, BANK_MANIFEST_FILE), 'utf8'),
    ) as NegativeBankManifest;
    const classes = await loadBankClasses();
    assert.ok(classes.length > 0 && classes.length <= 40, `${classes.length} classes (at most 40)`);
    assert.deepEqual([...new Set(manifest.sources.map((s) => path.basename(path.dirname(s))))].sort(), [...classes].sort());
    assert.deepEqual(manifest.views, BANK_VIEWS);
    const bank = await loadNegativeBank(manifest.baseModelSha256);
    assert.ok(bank);
    assert.equal(bank.embeddings.length, manifest.photos * BANK_VIEWS.length * EMBEDDING_SIZE);
    assert.equal(new Set(bank.photos).size, manifest.photos);
    assert.equal(await loadNegativeBank('0'.repeat(64)), null);
  });

  it('stores each value in a byte, within half a step', async () => {
    const values = Float32Array.from({ length: EMBEDDING_SIZE * 2 }, (_, i) => (i % 97) / 16);
    const { bytes, scale } = quantizeBank(values);
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'bank-'));
    try {
      const manifest: NegativeBankManifest = { baseModelSha256: 'x', views: ['centre'], photos: 2, scale, sources: ['a', 'b'] };
      await fs.writeFile(path.join(dir, BANK_MANIFEST_FILE), JSON.stringify(manifest));
      await fs.writeFile(path.join(dir, BANK_EMBEDDINGS_FILE), bytes);
      const bank = (await loadNegativeBank('x', dir))!;
      bank.embeddings.forEach((v, i) => assert.ok(Math.abs(v - values[i]) <= scale / 2 + 1e-6));
      await fs.writeFile(path.join(dir, BANK_EMBEDDINGS_FILE), bytes.subarray(1));
      await assert.rejects(loadNegativeBank('x', dir), /embeddings.bin has 2559 bytes/);
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});
