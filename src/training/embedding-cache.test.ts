/** Unit tests of the embedding cache: entries prove their integrity, a damaged one is dropped. */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { EMBEDDING_SIZE } from '../config/model-shape';
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

  const fileOf = (key: string) => path.join(dir, key.slice(0, 2), `${key}.f32`);

  /** Puts the embedding under a new key, changes its file with `damage`, and reads it back. */
  const damaged = async (name: string, damage: (bytes: Buffer, key: string) => Buffer) => {
    const key = cache.key(name.padEnd(64, '0'), 'centre');
    await cache.put(key, embedding);
    await fs.writeFile(fileOf(key), damage(await fs.readFile(fileOf(key)), key));
    return { read: await cache.get(key), left: existsSync(fileOf(key)) };
  };

  it('says why it could not keep an embedding, and keeps no part of it (a cache is a cache)', async () => {
    const blocked = path.join(dir, 'blocked');
    await fs.writeFile(blocked, 'a file where the cache wants a folder');
    const unwritable = new EmbeddingCache(blocked, 'a'.repeat(64));
    const key = unwritable.key('d'.repeat(64), 'centre');
    assert.equal(await unwritable.put(key, embedding), 'ENOTDIR');
    assert.equal(await unwritable.get(key), undefined);
    assert.equal(await fs.readFile(blocked, 'utf8'), 'a file where the cache wants a folder');
  });

  it('gives back what it was given', async () => {
    const key = cache.key('b'.repeat(64), 'centre');
    assert.equal(await cache.put(key, embedding), null, 'kept');
    assert.deepEqual(await cache.get(key), embedding);
    assert.equal(await cache.get(cache.key('c'.repeat(64), 'centre')), undefined);
  });

  it('drops an entry that was zero-filled, cut short, or holds a value that is not a number', async () => {
    const zeroed = await damaged('1', (b) => Buffer.alloc(b.length));
    assert.deepEqual(zeroed, { read: undefined, left: false });
    assert.deepEqual(await damaged('2', (b) => b.subarray(0, EMBEDDING_SIZE * 4)), { read: undefined, left: false });
    // A NaN with a checksum that matches it: the values themselves are checked too.
    const nan = await damaged('3', (b, key) => {
      const floats = b.subarray(0, EMBEDDING_SIZE * 4);
      floats.writeFloatLE(NaN, 40);
      return Buffer.concat([floats, createHash('sha256').update(key).update(floats).digest()]);
    });
    assert.deepEqual(nan, { read: undefined, left: false });
  });

  it('drops an entry copied from another key, though its own checksum matches', async () => {
    const [from, to] = [cache.key('e'.repeat(64), 'centre'), cache.key('f'.repeat(64), 'centre')];
    await cache.put(from, embedding);
    await fs.mkdir(path.dirname(fileOf(to)), { recursive: true });
    await fs.copyFile(fileOf(from), fileOf(to));
    assert.equal(await cache.get(to), undefined);
    assert.equal(existsSync(fileOf(to)), false);
    assert.deepEqual(await cache.get(from), embedding);
  });

  it('removes an entry on demand', async () => {
    const key = cache.key('9'.repeat(64), 'centre');
    await cache.put(key, embedding);
    await cache.remove(key);
    assert.equal(await cache.get(key), undefined);
    await cache.remove(key);
  });

  it('refuses to store a value that is not a number', async () => {
    const bad = embedding.slice();
    bad[5] = Infinity;
    await assert.rejects(cache.put(cache.key('d'.repeat(64), 'centre'), bad), /not finite/);
  });
});
