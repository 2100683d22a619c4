/** End-to-end: start-up checks and a job whose disk fills up. */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it, type TestContext } from 'node:test';
import { FakeBackend } from './support/fake-backend';
import { tempDir } from './support/fixtures';
import { ServiceApi } from './support/service-api';
import { resetDatabase } from './support/test-database';
import { freeLoopbackPort } from '../src/common/loopback';
import { TestServiceProcess } from './support/service-process';
import { QUICK_CLASSES, TEST_PHOTOS } from './support/shared';

const run = promisify(execFile);
const BACKEND_TOKEN = 'backend-token-disk';
const PAGE = 4096;

describe('start-up checks and a disk that cannot be written', () => {
  let work: string;
  let backend: FakeBackend;
  const processes: TestServiceProcess[] = [];
  const mounts: string[] = [];
  /**
   * A folder on a tmpfs of `size` (mount's syntax), or null after skipping the test: mounting needs root (CI runs as
   * root); elsewhere these cases cannot be staged.
   */
  const smallDisk = async (name: string, size: string, t: TestContext): Promise<string | null> => {
    const dir = path.join(work, name);
    await fs.mkdir(dir);
    try {
      await run('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir]);
    } catch (err) {
      t.skip(`cannot mount a small tmpfs here: ${(err as Error).message.split('\n')[0]}`);
      return null;
    }
    mounts.push(dir);
    return dir;
  };

  before(async () => {
    work = await tempDir('disk');
    await resetDatabase();
    backend = await new FakeBackend(BACKEND_TOKEN).start();
  });
  after(async () => {
    await Promise.all(processes.map((p) => p.kill()));
    await backend.stop();
    for (const mount of mounts) await run('umount', [mount]).catch(() => undefined);
    await fs.rm(work, { recursive: true, force: true });
  });

  it('stops the service at start-up with a message naming WORK_DIR', async () => {
    await fs.writeFile(path.join(work, 'a-file'), '');
    const log = path.join(work, 'unwritable.log');
    const service = new TestServiceProcess(work, { WORK_DIR: path.join(work, 'a-file', 'work') }, log);
    processes.push(service);
    await assert.rejects(service.start(), /the service exited with 1/);
    assert.match(
      await fs.readFile(log, 'utf8'),
      /ml-trainer could not start: WORK_DIR=.*a-file\/work is not a writable folder \(ENOTDIR: /,
    );
  });

  it('stops the service at start-up with one line when the database cannot be reached', async () => {
    const log = path.join(work, 'no-database.log');
    const closedPort = await freeLoopbackPort();
    const service = new TestServiceProcess(
      work,
      { DATABASE_URL: `postgres://postgres@127.0.0.1:${closedPort}/none` },
      log,
    );
    processes.push(service);
    await assert.rejects(service.start(), /the service exited with 1/);
    assert.match(
      await fs.readFile(log, 'utf8'),
      /^ml-trainer could not start: connect ECONNREFUSED 127\.0\.0\.1:\d+$/m,
    );
  });

  /** A service of its own with `env` (its log in `log`), and the job it ran for `channelId`, once finished. */
  const jobOnItsOwnService = async (channelId: string, env: Record<string, string>, log: string) => {
    const service = new TestServiceProcess(work, env, path.join(work, log));
    processes.push(service);
    await service.start();
    const api = new ServiceApi(service.url, backend);
    return { service, job: await api.finished((await api.train(channelId)).body.jobId, 120_000) };
  };

  it('fails a job whose disk fills up with a clear error, and uploads nothing', async (t) => {
    const items = backend.groceryProducts(QUICK_CLASSES, 6);
    // Room for the photos, not for the model: the disk fills while the model is written.
    let photoBytes = 0;
    for (const image of items.flatMap((p) => p.images)) {
      const relative = decodeURIComponent(new URL(image.url).pathname.slice('/assets/'.length));
      photoBytes += Math.ceil((await fs.stat(path.join(TEST_PHOTOS.root, relative))).size / PAGE) * PAGE;
    }
    const small = await smallDisk('small', String(photoBytes + 64 * 1024), t);
    if (!small) return;
    backend.manifests.set('51', items);
    const { service, job } = await jobOnItsOwnService('51', { WORK_DIR: small, JOB_MAX_ATTEMPTS: '2' }, 'full.log');
    assert.equal(job.state, 'failed');
    assert.equal(job.stage, 'exporting', 'the disk filled while the model was written');
    assert.equal(job.attempt, 2, 'a full disk may clear: the attempt is retried');
    assert.match(
      job.error,
      /^this service's disk refused a write \(WORK_DIR or MODEL_CACHE_DIR full or not writable\): ENOSPC: no space left on device/,
    );
    assert.equal(backend.uploadAttempts, 0, 'nothing was uploaded');
    assert.equal((await backend.lastFailedStatus('51')).error, job.error);
    assert.deepEqual(await fs.readdir(small), [], 'the working files are removed');
    await service.stop();
  });

  it('trains without the caches when MODEL_CACHE_DIR is full, says so once, and leaves no part of a file', async (t) => {
    // Room for a few embeddings, not for the ONNX graph (1.6 MB) nor for this job's 96.
    const full = await smallDisk('small-cache', '32k', t);
    if (!full) return;
    backend.manifests.set('52', backend.groceryProducts(QUICK_CLASSES, 6));
    const { service, job } = await jobOnItsOwnService(
      '52',
      { MODEL_CACHE_DIR: full, EMBEDDING_CACHE_DIR: '' },
      'full-cache.log',
    );
    assert.equal(job.state, 'completed', job.error);
    assert.equal(job.attempt, 1, 'before: every attempt failed, "this service\'s disk refused a write (… ENOSPC …)"');
    const cacheWarnings = job.metrics.warnings.filter((w: string) => w.startsWith('the embedding cache'));
    assert.deepEqual(cacheWarnings, [
      "the embedding cache (MODEL_CACHE_DIR) could not be written (ENOSPC): this training's embeddings were not " +
        'kept, and the next training embeds its photos again',
    ]);
    const leftovers: string[] = [];
    const walk = async (dir: string): Promise<void> => {
      for (const entry of await fs.readdir(dir, { withFileTypes: true })) {
        if (entry.isDirectory()) await walk(path.join(dir, entry.name));
        else if (/~\d+~[0-9a-f-]{36}$/.test(entry.name)) leftovers.push(entry.name);
      }
    };
    await walk(full);
    assert.deepEqual(leftovers, [], 'no part of a file stays');
    await service.stop();
  });
});
