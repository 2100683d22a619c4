/** End-to-end: hostile photos and manifests are skipped or refused within bounds. */
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { FakeBackend } from './support/fake-backend';
import { tempDir } from './support/fixtures';
import { HostilePeer } from './support/hostile-peer';
import { ServiceApi } from './support/service-api';
import { freeLoopbackPort } from '../src/common/loopback';
import { SERVICE_TOKEN, startService, waitFor, type RunningService } from './support/service-app';
import { resetDatabase } from './support/test-database';
import { QUICK_CLASSES, TEST_PHOTOS } from './support/shared';
import { MAX_PRODUCTS } from '../src/dataset/manifest';
import { MAX_REPORT_BYTES } from '../src/export/report';

const BACKEND_TOKEN = 'backend-token-hostile';
const AUTH = { authorization: `Bearer ${SERVICE_TOKEN}` };

/** `work`'s value, and the most this process's resident memory grew while it ran (sampled every 50 ms), in MB. */
async function withPeakRss<T>(work: () => Promise<T>): Promise<{ value: T; growthMb: number }> {
  const before = process.memoryUsage().rss;
  let peak = before;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 50);
  try {
    const value = await work();
    return { value, growthMb: (Math.max(peak, process.memoryUsage().rss) - before) / 1e6 };
  } finally {
    clearInterval(sampler);
  }
}

describe('hostile photos and manifests', () => {
  let work: string;
  let backend: FakeBackend;
  let peer: HostilePeer;
  let service: RunningService;
  /** Two allowed ports with no web server: one where nothing listens, one whose listener hangs up at once. */
  let closedPort: number;
  let resetting: Server;

  let api: ServiceApi;
  const runJob = async (channelId: string) => api.finished((await api.train(channelId)).body.jobId);

  before(async () => {
    work = await tempDir('hostile');
    await resetDatabase();
    backend = await new FakeBackend(BACKEND_TOKEN).start();
    peer = await new HostilePeer().start();
    resetting = createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => resetting.listen(0, '127.0.0.1', resolve));
    closedPort = await freeLoopbackPort();
    const resettingPort = (resetting.address() as AddressInfo).port;
    // The photos are on the peer's port, which is not one of the job's own URLs'.
    service = await startService(work, {
      DOWNLOAD_TIMEOUT_SECONDS: '3',
      MAX_QUEUED_JOBS: '3',
      ALLOWED_PORTS: [new URL(peer.url).port, closedPort, resettingPort].join(','),
    });
    api = new ServiceApi(service.url, backend);
  });
  after(async () => {
    await service?.app.close();
    await peer?.stop();
    resetting?.close();
    await backend?.stop();
    await fs.rm(work, { recursive: true, force: true });
  });

  it('skips every hostile photo with its reason, within the timeouts and bounded memory, and trains on the rest', async (t) => {
    const products = backend.groceryProducts(QUICK_CLASSES.slice(0, 2), 4);
    const hostile = [
      'bomb.png',
      'truncated.jpg',
      'text.jpg',
      'image.svg',
      'empty.jpg',
      'huge.jpg',
      'trickle.jpg',
      'to-metadata.jpg',
      'loop.jpg',
    ];
    products[0].images.push(...hostile.map((name) => ({ assetId: name, url: `${peer.url}/${name}`, filename: name })));
    // Not an allowed host (the job's hosts are 127.0.0.1): refused before any connection.
    products[1].images.push({
      assetId: 'elsewhere',
      url: peer.url.replace('127.0.0.1', 'localhost') + '/text.jpg',
      filename: 'x',
    });
    products[1].images.push({ assetId: 'metadata-ip', url: 'http://169.254.169.254/latest/meta-data/', filename: 'x' });
    // An allowed host on a port that is neither the job's nor in ALLOWED_PORTS (its database): refused, unconnected.
    products[1].images.push({ assetId: 'db-port', url: 'http://127.0.0.1:5432/x.jpg', filename: 'x' });
    // Allowed ports: whether something listens there is not told.
    products[1].images.push({ assetId: 'closed-port', url: `http://127.0.0.1:${closedPort}/x.jpg`, filename: 'x' });
    const resettingUrl = `http://127.0.0.1:${(resetting.address() as AddressInfo).port}/x.jpg`;
    products[1].images.push({ assetId: 'resetting-port', url: resettingUrl, filename: 'x' });
    backend.manifests.set('40', products);
    // A first ordinary job starts the TensorFlow workers, whose memory is not what is measured here.
    backend.manifests.set('39', backend.groceryProducts(QUICK_CLASSES.slice(0, 2), 2));
    assert.equal((await runJob('39')).state, 'completed');

    const rssBefore = process.memoryUsage().rss;
    const started = Date.now();
    const job = await runJob('40');
    const seconds = (Date.now() - started) / 1000;
    assert.equal(job.state, 'completed', job.error);
    assert.equal(job.metrics.images, 8, 'the 8 good photos trained');
    const reasons = Object.fromEntries(
      job.skipped.map((s: { photo: string; reason: string }) => [s.photo.replace('asset ', ''), s.reason]),
    );
    assert.match(reasons['bomb.png'], /megapixel limit|pixel limit|exceeds/);
    assert.match(reasons['truncated.jpg'], /could not be decoded|not a readable image/);
    // Refused at their first bytes, as they arrive.
    const notAnImage =
      'download failed: not a readable image (its first bytes are none of JPEG, PNG, WebP, GIF, HEIF or TIFF)';
    assert.equal(reasons['text.jpg'], notAnImage);
    assert.equal(reasons['image.svg'], notAnImage);
    assert.equal(reasons['empty.jpg'], 'download failed: not a readable image (empty)');
    assert.equal(reasons['huge.jpg'], 'download failed: larger than 20971520 bytes');
    assert.match(reasons['trickle.jpg'], /download failed: timed out after 3 s \(after 3 attempts\)/);
    assert.match(reasons['to-metadata.jpg'], /download failed: refused: host 169.254.169.254 is not in ALLOWED_HOSTS/);
    assert.match(
      reasons['loop.jpg'],
      /download failed: (too many redirects|network error \(ERR_FR_TOO_MANY_REDIRECTS\))/,
    );
    assert.match(reasons['elsewhere'], /refused: host localhost is not in ALLOWED_HOSTS/);
    assert.match(reasons['metadata-ip'], /refused: host 169.254.169.254 is not in ALLOWED_HOSTS/);
    assert.match(reasons['db-port'], /refused: port 5432 is not in ALLOWED_PORTS/);
    assert.equal(reasons['closed-port'], 'download failed: network error (after 3 attempts)');
    assert.equal(reasons['resetting-port'], reasons['closed-port']);
    assert.equal(peer.hits.get('/loop.jpg'), 4, 'a redirect loop is followed 3 times, then given up');
    assert.ok(seconds < 40, `the job took ${seconds} s`);
    const growthMb = (process.memoryUsage().rss - rssBefore) / 1e6;
    t.diagnostic(`hostile job: ${seconds.toFixed(1)} s, resident memory grew ${growthMb.toFixed(0)} MB`);
    assert.ok(growthMb < 150, `memory grew by ${growthMb.toFixed(0)} MB (a 100 MB body must not be held)`);
  });

  it('downloads a URL once per job and refuses a non-image at its first bytes', async (t) => {
    const products = backend.groceryProducts(QUICK_CLASSES.slice(0, 3), 3);
    // The outside probe: 2,000 entries of one 2 MB non-image made 2,000 requests, 4,003 MB in WORK_DIR and 248 s.
    for (let i = 0; i < 2000; i++)
      products[0].images.push({ assetId: `junk-${i}`, url: `${peer.url}/junk-2mb.jpg`, filename: 'x.jpg' });
    backend.manifests.set('41', products);
    const started = Date.now();
    const job = await runJob('41');
    const seconds = (Date.now() - started) / 1000;
    t.diagnostic(
      `2,000 entries of one 2 MB non-image: ${seconds.toFixed(1)} s, ${peer.hits.get('/junk-2mb.jpg')} request`,
    );
    assert.equal(job.state, 'completed', job.error);
    assert.equal(job.metrics.images, 9);
    assert.equal(job.metrics.skippedImages, 2000);
    assert.equal(peer.hits.get('/junk-2mb.jpg'), 1, 'one request for the one URL');
    assert.deepEqual(
      [
        ...new Set(
          job.skipped
            .filter((s: { photo: string }) => s.photo.startsWith('asset junk-'))
            .map((s: { reason: string }) => s.reason),
        ),
      ],
      ['download failed: not a readable image (its first bytes are none of JPEG, PNG, WebP, GIF, HEIF or TIFF)'],
    );
    assert.ok(seconds < 30, `${seconds} s`);
  });

  it('refuses manifests with fewer than two usable products, clearly', async () => {
    backend.manifests.set('41', []);
    const none = await runJob('41');
    assert.equal(none.state, 'failed');
    assert.match(none.error, /need usable photos of at least 2 labels to train, found 0/);
    backend.manifests.set('42', backend.groceryProducts(QUICK_CLASSES.slice(0, 2), 3).slice(0, 1));
    const one = await runJob('42');
    assert.equal(one.state, 'failed');
    assert.match(one.error, /found 1/);
  });

  it('handles 500 products, duplicates, odd strings and path characters without touching the file system', async () => {
    const products = backend.groceryProducts(QUICK_CLASSES.slice(0, 2), 3);
    products[0].productId = '../../etc/passwd';
    products[0].productName = '🍎 Äpfel/Birnen \\ "quoted" <b>';
    products[0].images.forEach((image) => (image.filename = '../../../../tmp/pwned.jpg'));
    const duplicate = { ...products[1], images: products[1].images.slice(0, 1) };
    const empty = Array.from({ length: 497 }, (_, i) => ({
      productId: `empty-${i}`,
      productName: i === 1 ? 'y'.repeat(1025) : 'x'.repeat(i === 0 ? 1000 : 3),
      images: [],
    }));
    backend.manifests.set('43', [...products, duplicate, ...empty]);
    const job = await runJob('43');
    assert.equal(job.state, 'completed', job.error);
    assert.equal(job.metrics.products, 2);
    assert.equal(job.metrics.images, 7, 'the duplicate product’s photo is merged in');
    assert.equal(job.metrics.droppedProducts.length, 496);
    // What was merged or ignored is stored with the job (before: only the CLI printed it).
    assert.ok(
      job.metrics.warnings.includes(
        `product ${products[1].productId} is listed more than once: its photos were merged`,
      ),
      JSON.stringify(job.metrics.warnings),
    );
    assert.ok(
      job.metrics.warnings.some((w: string) =>
        /^product #5 ignored: productName must be shorter than or equal to/.test(w),
      ),
      JSON.stringify(job.metrics.warnings),
    );
    assert.ok(job.skipped.length <= 500, 'the record keeps at most 500 skipped entries');
    await assert.rejects(fs.access('/tmp/pwned.jpg'));
    const upload = backend.uploads.find((u) => u.channelId === '43')!;
    assert.deepEqual(JSON.parse(upload.metadata.bytes.toString()).labels, ['../../etc/passwd', products[1].productId]);
  });

  it('keeps the report of the largest manifest under 1 MB, and serves it to 50 readers at once while /health answers', async (t) => {
    // The outside probe: 60 products named with 996 "<" made a 38 MB report; 20,000 photos left out, 165 MB.
    const photos = [...TEST_PHOTOS.photos('train'), ...TEST_PHOTOS.photos('val')];
    const numbered = (fill: string, length: number, i: number) =>
      `${fill.repeat(length - 6)}${String(i).padStart(6, '0')}`;
    const products = Array.from({ length: MAX_PRODUCTS }, (_, i) => ({
      productId: numbered('"', 256, i),
      productName: numbered('<', 1024, i),
      images: [0, 1].map((k) => {
        const photo = photos[(2 * i + k) % photos.length];
        return {
          assetId: `${i}-${k}`,
          url: backend.photoUrl(path.relative(TEST_PHOTOS.root, photo.file)),
          filename: numbered('&', 1024, 2 * i + k),
        };
      }),
    }));
    for (let i = 0; i < 20_000; i++)
      products[i % MAX_PRODUCTS].images.push({ assetId: numbered('<', 256, i), url: 'not a url', filename: 'x' });
    backend.manifests.set('46', products);
    const { value: job, growthMb: jobGrowthMb } = await withPeakRss(() => runJob('46'));
    assert.equal(job.state, 'completed', job.error);
    assert.equal(job.metrics.products, MAX_PRODUCTS);
    const report = await fetch(`${service.url}/v1/jobs/${job.jobId}/report`, { headers: AUTH });
    assert.equal(report.status, 200);
    const html = await report.text();
    const bytes = Buffer.byteLength(html);
    assert.ok(bytes < MAX_REPORT_BYTES, `${bytes} bytes`);
    assert.match(html, /and 19950 more photos left out, not listed here/);
    t.diagnostic(
      `500 products, longest names and ids, 20,000 photos left out: report ${bytes} bytes; resident memory ` +
        `grew ${jobGrowthMb.toFixed(0)} MB during the job`,
    );

    // 50 readers at once, /health polled every 0.5 s throughout.
    const polls: { status: number; ms: number }[] = [];
    let polling = true;
    const poller = (async () => {
      while (polling) {
        const started = performance.now();
        const status = await fetch(`${service.url}/health`).then(
          (r) => r.status,
          () => 0,
        );
        polls.push({ status, ms: performance.now() - started });
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    })();
    let seconds = 0;
    const { value: reads, growthMb } = await withPeakRss(async () => {
      const started = performance.now();
      const answers = await Promise.all(
        Array.from({ length: 50 }, () =>
          fetch(`${service.url}/v1/jobs/${job.jobId}/report`, { headers: AUTH }).then(async (r) => ({
            status: r.status,
            same: (await r.text()) === html,
          })),
        ),
      );
      seconds = (performance.now() - started) / 1000;
      // /health is polled a while longer.
      await new Promise((resolve) => setTimeout(resolve, 1000));
      return answers;
    });
    polling = false;
    await poller;
    t.diagnostic(
      `50 reads at once: ${seconds.toFixed(2)} s, statuses ${[...new Set(reads.map((r) => r.status))]}; /health ` +
        `${polls.length} polls, statuses ${[...new Set(polls.map((p) => p.status))]}, slowest ` +
        `${Math.max(...polls.map((p) => p.ms)).toFixed(0)} ms; resident memory grew ` +
        `${growthMb.toFixed(0)} MB`,
    );
    assert.deepEqual(
      reads.filter((r) => r.status !== 200 || !r.same),
      [],
    );
    assert.deepEqual(
      polls.filter((p) => p.status !== 200),
      [],
    );
    assert.ok(growthMb < 200, `resident memory grew ${growthMb.toFixed(0)} MB (the probe: 2,194 MB)`);
  });

  it('refuses ids and cleans names with control characters (Postgres cannot store NUL)', async () => {
    const products = backend.groceryProducts(QUICK_CLASSES.slice(0, 2), 3);
    products[0].productName = 'Äpfel\u0000\n';
    products[1].images.push({ ...products[1].images[0], assetId: 'nul\u0000asset' });
    const nulProduct = { productId: 'nul\u0000', productName: 'n', images: products[1].images.slice(0, 1) };
    backend.manifests.set('44', [...products, nulProduct]);
    const job = await runJob('44');
    assert.equal(job.state, 'completed', job.error);
    assert.equal(job.metrics.products, 2, 'the product with a NUL in its id is left out');
    assert.deepEqual(
      job.skipped.filter((s: { photo: string }) => s.photo.startsWith('asset nul')),
      [
        {
          product: products[1].productId,
          photo: 'asset nulasset',
          reason: 'assetId must not contain control characters',
        },
      ],
    );
    const upload = backend.uploads.find((u) => u.channelId === '44')!;
    assert.equal(JSON.parse(upload.metadata.bytes.toString()).labelNames[0], 'Äpfel');
  });

  it('refuses a flood at the door: past MAX_QUEUED_JOBS queued jobs, 429 with Retry-After', async (t) => {
    const post = async (channelId: string) => {
      backend.manifests.set(channelId, { graphqlError: 'flood' });
      const response = await fetch(`${service.url}/v1/train`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${SERVICE_TOKEN}` },
        body: JSON.stringify({
          channelId,
          manifestUrl: backend.manifestUrl(channelId),
          webhookUrl: backend.webhookUrl,
          authToken: BACKEND_TOKEN,
        }),
      });
      return {
        status: response.status,
        retryAfter: response.headers.get('retry-after'),
        body: (await response.json()) as any,
      };
    };
    // 100 at once, on 100 channels: three are queued; a job that starts meanwhile frees its place, nothing else does.
    const answers = await Promise.all(Array.from({ length: 100 }, (_, i) => post(`flood-${i}`)));
    const burstEnd = Date.now();
    const accepted = answers.filter((a) => a.status === 202);
    const refused = answers.filter((a) => a.status === 429);
    assert.equal(refused.length, 100 - accepted.length, 'every other answer is 429');
    for (const answer of refused) {
      assert.equal(answer.retryAfter, '60');
      assert.equal(answer.body.message, '3 training jobs are queued (MAX_QUEUED_JOBS); try again later');
    }
    const jobs = await Promise.all(accepted.map((answer) => api.finished(answer.body.jobId)));
    const startedDuring = jobs.filter((job) => Date.parse(job.startedAt) <= burstEnd).length;
    assert.ok(
      accepted.length >= 3 && accepted.length <= 3 + startedDuring,
      `${accepted.length} accepted, ${startedDuring} of them started during the burst`,
    );
    t.diagnostic(`${accepted.length} of 100 accepted, ${startedDuring} of them started during the burst`);
  });

  it('does not retry what the backend refuses as such: a wrong token is asked once per request', async () => {
    backend.manifests.set('45', backend.groceryProducts(QUICK_CLASSES.slice(0, 2), 3));
    const wrong = 'a-wrong-backend-token-0123456789';
    const { body } = await api.train('45', { authToken: wrong });
    const job = await api.finished(body.jobId);
    assert.equal(job.state, 'failed');
    assert.match(job.error, /not currently authorized/);
    await waitFor('the failed status', async () =>
      backend.requests.filter((r) => r.authorization === `Bearer ${wrong}`).length >= 3 ? true : undefined,
    );
    await new Promise((resolve) => setTimeout(resolve, 1500));
    // The manifest, the "training" status and the "failed" status, each once (before: each status three times).
    assert.equal(backend.requests.filter((r) => r.authorization === `Bearer ${wrong}`).length, 3);
  });
});
