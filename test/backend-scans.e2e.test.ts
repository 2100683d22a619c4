/**
 * The till's confirmed scans in the manifest: a backend that sends them, and one whose schema does not have them yet
 * (asked again without them, so it keeps working unchanged). Against the stand-in backend on loopback, without Nest.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { HttpService } from '@nestjs/axios';
import { BackendClient } from '../src/backend/backend-client.service';
import { egressPolicy } from '../src/common/egress';
import { loadConfig } from '../src/config/app-config';
import { parseManifest } from '../src/dataset/manifest';
import { StandInBackend } from '../src/demo/stand-in-backend';
import { tempDir } from './support/fixtures';

describe("the till's confirmed scans in the backend's manifest", () => {
  const config = loadConfig({ LOG_LEVEL: 'silent' });
  const client = new BackendClient(new HttpService(), config);
  let current: StandInBackend;
  let older: StandInBackend;
  const products = [
    {
      productId: 'p1',
      productName: 'Tea',
      images: [{ assetId: '1', url: 'http://127.0.0.1:9/1.jpg', filename: '1.jpg' }],
    },
  ];
  const scans = [
    {
      assetId: 's1',
      url: 'http://127.0.0.1:9/s1.jpg',
      filename: 's1.jpg',
      productId: 'p1',
      takenAt: '2026-12-01T10:00:00Z',
    },
    {
      assetId: 's2',
      url: 'http://127.0.0.1:9/s2.jpg',
      filename: 's2.jpg',
      productId: null,
      takenAt: '2026-12-02T10:00:00Z',
    },
  ];

  before(async () => {
    const photos = await tempDir('scans-backend');
    current = await new StandInBackend('token', photos).start();
    older = await new StandInBackend('token', photos, { withScans: false }).start();
    for (const backend of [current, older]) {
      backend.manifests.set('c', products);
      backend.scans.set('c', scans);
    }
    for (const b of [current, older]) b.manifests.set('broken', { graphqlError: 'No channel with id broken' });
  });
  after(async () => {
    await current.stop();
    await older.stop();
  });
  const fetch = (backend: StandInBackend, channel = 'c') =>
    client.fetchManifest(backend.manifestUrl(channel), {
      authToken: 'token',
      policy: egressPolicy([], [backend.url]),
    });

  it('are read from a backend that sends them, newest first', async () => {
    const { manifest } = parseManifest(await fetch(current));
    assert.deepEqual(
      manifest.scans.map((s) => [s.assetId, s.productId]),
      [
        ['s2', null],
        ['s1', 'p1'],
      ],
    );
    assert.equal(current.requests.length, 1);
  });

  it('are not asked again of a backend whose schema lacks them: the manifest comes without', async () => {
    const { manifest } = parseManifest(await fetch(older));
    assert.deepEqual(manifest.scans, []);
    assert.deepEqual(
      manifest.products.map((p) => p.productId),
      ['p1'],
    );
    assert.equal(older.requests.length, 2, 'asked with the scans, refused, asked without');
  });

  it("leave the backend's other refusals as they were", async () => {
    await assert.rejects(fetch(older, 'broken'), /the backend refused the manifest: No channel with id broken/);
    await assert.rejects(fetch(current, 'broken'), /the backend refused the manifest: No channel with id broken/);
  });
});
