/**
 * The backend's side of a job against peers that trickle or never stop: every request to the backend has a
 * whole-request deadline and the manifest a size cap (the services run without Nest, against loopback peers).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { HttpService } from '@nestjs/axios';
import { egressPolicy } from '../src/common/egress';
import { loadConfig } from '../src/config/app-config';
import { DatasetService } from '../src/dataset/dataset.service';
import { DatasetError, ManifestUnavailableError } from '../src/dataset/dataset.types';
import { BackendClient, UploadError } from '../src/backend/backend-client.service';
import { HostilePeer } from './support/hostile-peer';
import { tempDir } from './support/fixtures';
import { promises as fs } from 'node:fs';

describe('requests to the backend against trickling and endless peers', () => {
  let peer: HostilePeer;
  const config = loadConfig({
    BACKEND_REQUEST_TIMEOUT_SECONDS: '2',
    UPLOAD_TIMEOUT_SECONDS: '2',
    UPLOAD_ATTEMPTS: '2',
    UPLOAD_RETRY_DELAY_SECONDS: '0',
    MANIFEST_MAX_BYTES: '100000',
    LOG_LEVEL: 'silent',
  });
  const http = new HttpService();
  const datasets = new DatasetService(http, config);
  const backend = new BackendClient(http, config);
  const seconds = async (work: () => Promise<unknown>) => {
    const started = performance.now();
    await work().catch(() => undefined);
    return (performance.now() - started) / 1000;
  };

  before(async () => (peer = await new HostilePeer().start()));
  after(() => peer.stop());

  it('gives up on a manifest that trickles in after the whole-request deadline, to be retried', async () => {
    const policy = egressPolicy([], [peer.url]);
    const request = backend.fetchManifest(`${peer.url}/trickle?query=query{x}`, { authToken: 'token', policy });
    await assert.rejects(request, (err) => {
      assert.ok(err instanceof ManifestUnavailableError, String(err));
      assert.match(err.message, /timed out after 2 s/);
      return true;
    });
    const took = await seconds(() =>
      backend.fetchManifest(`${peer.url}/trickle?query=query{x}`, { authToken: 't', policy }),
    );
    assert.ok(took >= 1.9 && took < 4, `${took} s`);
  });

  it('stops reading a manifest past MANIFEST_MAX_BYTES and fails the job with that reason', async () => {
    const request = backend.fetchManifest(`${peer.url}/endless?query=query{x}`, {
      authToken: 'token',
      policy: egressPolicy([], [peer.url]),
    });
    await assert.rejects(request, (err) => {
      assert.ok(err instanceof DatasetError && !(err instanceof ManifestUnavailableError), String(err));
      assert.match(err.message, /larger than MANIFEST_MAX_BYTES \(100000 bytes\)/);
      return true;
    });
    await assert.rejects(datasets.readManifest(`${peer.url}/endless`), /larger than MANIFEST_MAX_BYTES/);
  });

  it('cuts off each status webhook and each upload attempt at its deadline', async () => {
    const target = {
      webhookUrl: `${peer.url}/trickle`,
      authToken: 'token',
      channelId: '7',
      policy: egressPolicy([], [peer.url]),
    };
    let accepted: boolean | undefined;
    // Three attempts of 2 s, with 0.5 s and 1 s between them.
    const statusSeconds = await seconds(async () => (accepted = await backend.sendStatus(target, 'training', 10)));
    assert.equal(accepted, false);
    assert.ok(statusSeconds < 10, `status webhook gave up after ${statusSeconds} s`);
    const files = { modelJson: Buffer.from('{}'), weightsFile: Buffer.alloc(16), metadata: Buffer.from('{}') };
    await assert.rejects(backend.uploadModel(target, files), (err) => {
      assert.ok(err instanceof UploadError);
      assert.equal(err.message, 'upload failed after 2 attempts: timed out after 2 s');
      return true;
    });
  });

  it('cuts off an endless answer to a status or an upload as it arrives, never holding it', async () => {
    const target = {
      webhookUrl: `${peer.url}/endless`,
      authToken: 'token',
      channelId: '8',
      policy: egressPolicy([], [peer.url]),
    };
    const rss = process.memoryUsage().rss;
    assert.equal(await backend.sendStatus(target, 'training', 10), false);
    const files = { modelJson: Buffer.from('{}'), weightsFile: Buffer.alloc(16), metadata: Buffer.from('{}') };
    await assert.rejects(backend.uploadModel(target, files), (err) => {
      assert.ok(err instanceof UploadError);
      assert.equal(err.message, 'upload failed after 2 attempts: the answer was longer than 65536 bytes (cut off)');
      return true;
    });
    // Three status attempts and two uploads: each answer of 100 MB was cut off after a few buffers.
    const sent = peer.endlessSent.slice(-5);
    assert.equal(sent.length, 5);
    for (const bytes of sent) assert.ok(bytes < 16 * 1024 * 1024, `${bytes} bytes sent before the cut`);
    const grown = (process.memoryUsage().rss - rss) / 1e6;
    assert.ok(grown < 100, `RSS grew by ${grown.toFixed(0)} MB`);
  });

  it("stops a job's downloads once they reach JOB_DOWNLOAD_MAX_MB, naming the setting", async () => {
    const work = await tempDir('download-cap');
    try {
      const capped = new DatasetService(http, loadConfig({ JOB_DOWNLOAD_MAX_MB: '1', LOG_LEVEL: 'silent' }));
      // 24 photos of 300 kB (a JPEG's first bytes, then padding), 8 fetched at a time.
      const photo = (i: number) => ({ assetId: String(i), url: `${peer.url}/big-${i}.jpg`, filename: `${i}.jpg` });
      const manifest = {
        products: [
          { productId: 'a', images: Array.from({ length: 12 }, (_, i) => photo(i)) },
          { productId: 'b', images: Array.from({ length: 12 }, (_, i) => photo(12 + i)) },
        ],
      };
      const dataset = await capped.fromManifest(manifest, work, undefined, egressPolicy([], [peer.url]));
      const reasons = dataset.skipped.map((s) => s.reason);
      const fetched = dataset.images.length;
      assert.ok(fetched >= 4 && fetched <= 4 + 8, `${fetched} fetched: 1 MB is 3.4 photos, and 8 were on their way`);
      assert.equal(reasons.length, 24 - fetched);
      for (const reason of reasons)
        assert.equal(reason, 'not fetched: the downloads reached JOB_DOWNLOAD_MAX_MB (1 MB) before it');
      const onDisk = await fs.readdir(`${work}/photos`);
      assert.equal(onDisk.length, fetched, 'nothing else written');
    } finally {
      await fs.rm(work, { recursive: true, force: true });
    }
  });
});
