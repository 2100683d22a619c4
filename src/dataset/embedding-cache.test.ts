/** Unit tests of the embedding cache: entries prove their integrity, a damaged one is dropped. */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { EMBEDDING_SIZE } from '../common/model-shape';
import { EmbeddingCache } from './embedding-cache';

describe('embedding cache', () => {
  let dir: string;
  let cache: EmbeddingCache;
  const embedding = Float32Array.from({ length: EMBEDDING_SIZE }, (_, i) => (i % 13) / 7);
  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'embedding-cache-'));
    cache = new EmbeddingCache(dir, 'a'.repeat(64));
  });
  after(() => fs.rm(dir, { recursive: true, force: true }));

  /** Puts the embedding under a new key, changes its file with `damage`, and reads it back. */
  const damaged = async (name: string, damage: (bytes: Buffer) => Buffer) => {
    const key = cache.key(name.padEnd(64, '0'), 'centre');
    await cache.put(key, embedding);
    const file = path.join(dir, key.slice(0, 2), `${key}.f32`);
    await fs.writeFile(file, damage(await fs.readFile(file)));
    return {
      read: await cache.get(key),
      left: await fs.stat(file).then(
        () => true,
        () => false,
      ),
    };
  };

  it('gives back what it was given', async () => {
    const key = cache.key('b'.repeat(64), 'centre');
    await cache.put(key, embedding);
    assert.deepEqual(await cache.get(key), embedding);
    assert.equal(await cache.get(cache.key('c'.repeat(64), 'centre')), undefined);
  });

  it('drops an entry that was zero-filled, cut short, or holds a value that is not a number', async () => {
    const zeroed = await damaged('1', (b) => Buffer.alloc(b.length));
    assert.deepEqual(zeroed, { read: undefined, left: false });
    assert.deepEqual(await damaged('2', (b) => b.subarray(0, EMBEDDING_SIZE * 4)), { read: undefined, left: false });
    // A NaN with a checksum that matches it: the values themselves are checked too.
    const nan = await damaged('3', (b) => {
      const floats = b.subarray(0, EMBEDDING_SIZE * 4);
      floats.writeFloatLE(NaN, 40);
      return Buffer.concat([floats, createHash('sha256').update(floats).digest()]);
    });
    assert.deepEqual(nan, { read: undefined, left: false });
  });

  it('refuses to store a value that is not a number', async () => {
    const bad = embedding.slice();
    bad[5] = Infinity;
    await assert.rejects(cache.put(cache.key('d'.repeat(64), 'centre'), bad), /not finite/);
  });
});
