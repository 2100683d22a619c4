/** Unit tests of base model loading and checks. */
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { createHash, randomUUID } from 'node:crypto';
import { BASE_MODEL_JSON, ensureTestData } from '../../../test/support/shared';
import { BaseModelError, resolveBaseModel } from './base-model';

describe('base model', () => {
  let tmp: string;
  /** sha256 of the tests' model's one weight shard: the model's identity. */
  let weightsSha256: string;
  before(async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'base-model-test-'));
    await ensureTestData();
    const weights = await fs.readFile(path.join(path.dirname(BASE_MODEL_JSON), 'weights.bin'));
    weightsSha256 = createHash('sha256').update(weights).digest('hex');
  });
  after(async () => {
    await fs.rm(tmp, { recursive: true, force: true });
  });

  it('uses a local path in place and identifies it by the sha256 of its weights', async () => {
    const files = await resolveBaseModel(BASE_MODEL_JSON, tmp);
    assert.equal(files.modelJsonPath, BASE_MODEL_JSON);
    assert.equal(files.sha256, weightsSha256);
  });

  it('accepts a file:// URL', async () => {
    const files = await resolveBaseModel(pathToFileURL(BASE_MODEL_JSON).href, tmp);
    assert.equal(files.modelJsonPath, BASE_MODEL_JSON);
  });

  it('names the path of a missing base model', async () => {
    const missing = path.join(tmp, 'nowhere', 'model.json');
    await assert.rejects(resolveBaseModel(missing, tmp), (err: unknown) => {
      assert.ok(err instanceof BaseModelError);
      assert.match(
        err.message,
        new RegExp(`base model not readable at ${missing.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: ENOENT`),
      );
      return true;
    });
  });

  it('refuses truncated weights', async () => {
    const dir = path.join(tmp, 'truncated');
    await fs.mkdir(dir);
    await fs.copyFile(BASE_MODEL_JSON, path.join(dir, 'model.json'));
    const weights = await fs.readFile(path.join(path.dirname(BASE_MODEL_JSON), 'weights.bin'));
    await fs.writeFile(path.join(dir, 'weights.bin'), weights.subarray(0, 1000));
    await assert.rejects(
      resolveBaseModel(path.join(dir, 'model.json'), tmp),
      /incomplete: 1000 bytes, manifest says 1640832/,
    );
  });

  it('refuses a model with another input shape', async () => {
    const dir = path.join(tmp, 'shape');
    await fs.mkdir(dir);
    const model = JSON.parse(await fs.readFile(BASE_MODEL_JSON, 'utf8'));
    model.modelTopology.config.layers[0].config.batch_input_shape = [null, 96, 96, 3];
    await fs.writeFile(path.join(dir, 'model.json'), JSON.stringify(model));
    await assert.rejects(
      resolveBaseModel(path.join(dir, 'model.json'), tmp),
      /takes input \[null,96,96,3\], expected \[null,224,224,3\]/,
    );
  });

  describe('from an http URL (a local server)', () => {
    let server: Server;
    let baseUrl: string;
    const hits: string[] = [];
    before(async () => {
      server = createServer(async (req, res) => {
        hits.push(req.url!);
        try {
          if (!req.url!.startsWith('/models/')) throw new Error('not found');
          res.end(await fs.readFile(path.join(path.dirname(BASE_MODEL_JSON), path.basename(req.url!))));
        } catch {
          res.statusCode = 404;
          res.end();
        }
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    after(() => new Promise<void>((resolve) => server.close(() => resolve())));

    it('downloads once into the cache, verifies, and reuses the cached copy', async () => {
      const cache = path.join(tmp, 'cache');
      const url = `${baseUrl}/models/model.json`;
      const first = await resolveBaseModel(url, cache);
      assert.equal(first.sha256, weightsSha256);
      assert.ok(first.modelJsonPath.startsWith(cache));
      assert.deepEqual(hits.splice(0), ['/models/model.json', '/models/weights.bin']);
      const second = await resolveBaseModel(url, cache);
      assert.equal(second.modelJsonPath, first.modelJsonPath);
      assert.deepEqual(hits, [], 'the cached copy is used without a request');
      // A damaged cached copy is downloaded again.
      await fs.truncate(path.join(path.dirname(first.modelJsonPath), 'weights.bin'), 10);
      const third = await resolveBaseModel(url, cache);
      assert.equal(third.sha256, weightsSha256);
      assert.equal(hits.length, 2);
    });

    it('reports an HTTP error with the URL and what to do offline', async () => {
      await assert.rejects(
        resolveBaseModel(`${baseUrl}/absent/model.json`, path.join(tmp, 'cache2')),
        /download from http:\/\/127\.0\.0\.1:\d+\/absent\/model\.json failed: HTTP 404 \(.*set BASE_MODEL_URL or --base-model to its local model\.json\)/,
      );
    });

    it('refuses weights whose sha256 is not the known one, naming both, and never caches them', async () => {
      const cache = path.join(tmp, 'cache-known');
      const url = `${baseUrl}/models/model.json`;
      const other = 'ab'.repeat(32);
      await assert.rejects(
        resolveBaseModel(url, cache, { expectedSha256: other, expectedName: 'the known model' }),
        (err: unknown) => {
          assert.ok(err instanceof BaseModelError);
          assert.match(err.message, new RegExp(`sha256 ${weightsSha256}, but the known model has ${other}`));
          return true;
        },
      );
      assert.deepEqual(await fs.readdir(path.join(cache, 'base-models')), [], 'nothing left in the cache');
      const good = await resolveBaseModel(url, cache, { expectedSha256: weightsSha256 });
      assert.equal(good.sha256, weightsSha256);
      // A cached copy that is complete but not the known model is fetched again.
      hits.length = 0;
      const weights = path.join(path.dirname(good.modelJsonPath), 'weights.bin');
      const bytes = await fs.readFile(weights);
      bytes[0] ^= 0xff;
      await fs.writeFile(weights, bytes);
      await resolveBaseModel(url, cache, { expectedSha256: weightsSha256 });
      assert.deepEqual(hits, ['/models/model.json', '/models/weights.bin']);
    });

    it('says that MODEL_CACHE_DIR has no room, what to do, and removes what a killed download left', async () => {
      const url = `${baseUrl}/models/model.json`;
      // A file where the cache's folder should be: the disk refuses (ENOTDIR), as a full or read-only one would.
      const blocked = path.join(tmp, 'blocked');
      await fs.writeFile(blocked, '');
      await assert.rejects(resolveBaseModel(url, blocked), (err: unknown) => {
        assert.ok(err instanceof BaseModelError);
        assert.match(
          err.message,
          /^the base model could not be stored in MODEL_CACHE_DIR \(ENOTDIR: full or not writable\): free space there, or to use a copy of your own, set BASE_MODEL_URL/,
        );
        return true;
      });
      const cache = path.join(tmp, 'cache-stale');
      const models = path.join(cache, 'base-models');
      // A download of a process that is gone (pid 2^22 + 1 is above Linux's pid_max), and one of this process.
      const gone = `0123456789abcdef.download~${os.hostname()}~4194305~${randomUUID()}`;
      const live = `0123456789abcdef.download~${os.hostname()}~${process.pid}~${randomUUID()}`;
      for (const name of [gone, live]) await fs.mkdir(path.join(models, name), { recursive: true });
      await resolveBaseModel(url, cache);
      const left = await fs.readdir(models);
      assert.ok(!left.includes(gone), 'a killed download is removed');
      assert.ok(left.includes(live), "a live process's download stays");
      assert.equal(left.filter((name) => name.includes('~')).length, 1, 'this download left no staging folder');
    });

    it('reports the progress of the weights as they arrive', async () => {
      const reports: [number, number][] = [];
      await resolveBaseModel(`${baseUrl}/models/model.json`, path.join(tmp, 'cache-progress'), {
        onProgress: (received, total) => reports.push([received, total]),
      });
      assert.deepEqual(reports[0], [0, 1640832]);
      assert.deepEqual(reports.at(-1), [1640832, 1640832]);
      assert.ok(reports.length > 2, `${reports.length} reports`);
      reports.slice(1).forEach(([received], i) => assert.ok(received >= reports[i][0], 'never goes back'));
    });
  });
});
