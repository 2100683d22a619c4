/** Unit tests of local disk checks and disk-error recognition. */
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { assertWritableDir, isLocalDiskError } from './local-disk';

describe('local disk errors', () => {
  it('tells our disk refusing a write from every other failure', () => {
    const full = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    assert.equal(isLocalDiskError(full), true);
    assert.equal(isLocalDiskError(new Error('EROFS: read-only file system, open /w/x')), true, 'code lost in a worker');
    assert.equal(isLocalDiskError(Object.assign(new Error('connect'), { code: 'ECONNREFUSED' })), false);
    assert.equal(isLocalDiskError(new Error('HTTP 500')), false);
    assert.equal(isLocalDiskError(new Error('download failed: ENOSPC on the server')), false);
    assert.equal(isLocalDiskError(undefined), false);
  });

  it('creates a missing folder, and names the setting when a folder cannot be written', async () => {
    const root = await fs.mkdtemp(path.join(os.tmpdir(), 'ml-trainer-disk-'));
    try {
      await assertWritableDir(path.join(root, 'a', 'b'), 'WORK_DIR');
      assert.deepEqual(await fs.readdir(path.join(root, 'a', 'b')), [], 'the probe file is removed');
      await fs.writeFile(path.join(root, 'file'), '');
      await assert.rejects(
        assertWritableDir(path.join(root, 'file', 'work'), 'WORK_DIR'),
        /^Error: WORK_DIR=.*\/file\/work is not a writable folder \(ENOTDIR: .*\); point WORK_DIR at a folder/,
      );
    } finally {
      await fs.rm(root, { recursive: true, force: true });
    }
  });
});
