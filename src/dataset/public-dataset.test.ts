/** Unit tests of the lists of public dataset photos (the negative bank's definition, the demo's products). */
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { photoClass, readPhotoList } from './public-dataset';

describe('public dataset photo lists', () => {
  it('reads one path a line, hashes the list, and names each photo by its folder', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'photo-list-'));
    try {
      const file = path.join(dir, 'list.txt');
      await fs.writeFile(file, 'train/Fruit/Banana/Banana_001.jpg\n\n  train/Juice/A-B/A-B_2.jpg \n');
      const list = await readPhotoList(file);
      assert.deepEqual(list.photos, ['train/Fruit/Banana/Banana_001.jpg', 'train/Juice/A-B/A-B_2.jpg']);
      assert.match(list.sha256, /^[0-9a-f]{64}$/);
      assert.deepEqual(list.photos.map(photoClass), ['Banana', 'A-B']);
      await fs.writeFile(file, 'train/Juice/A-B/A-B_2.jpg\ntrain/Fruit/Banana/Banana_001.jpg\n');
      assert.notEqual((await readPhotoList(file)).sha256, list.sha256, 'the order is part of the list');
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses a list that names a path outside the dataset, or nothing', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'photo-list-'));
    try {
      const file = path.join(dir, 'list.txt');
      for (const bad of ['train/../../etc/passwd.jpg', '/etc/a.jpg', 'train/a b.jpg', 'train/x.png', '../x.jpg']) {
        await fs.writeFile(file, `train/A/a_1.jpg\n${bad}\n`);
        await assert.rejects(readPhotoList(file), /lists an unsafe photo path/, bad);
      }
      await fs.writeFile(file, '\n\n');
      await assert.rejects(readPhotoList(file), /lists no photo/);
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});
