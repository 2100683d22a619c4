/** End-to-end: the HTTP API, a job from request to upload, and the backend contract. */
import assert from 'node:assert/strict';
import { existsSync, promises as fs } from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { COMPLETE_TRAINING_MUTATION } from '../src/backend/backend-contract';
import { EmbeddingCache } from '../src/training/embedding-cache';
import { escapeHtml } from '../src/export/report';
import { FakeBackend } from './support/fake-backend';
import { tempDir } from './support/fixtures';
import { SERVICE_TOKEN, startService, waitFor, type RunningService } from './support/service-app';
import { resetDatabase } from './support/test-database';
import { ServiceApi } from './support/service-api';
import { QUICK_CLASSES, TEST_PHOTOS } from './support/shared';
import { predictPhotos } from './support/predict';

const BACKEND_TOKEN = 'backend-token-for-this-job';

describe('training service (HTTP API, durable jobs, backend contract)', () => {
  let work: string;
  let backend: FakeBackend;
  let service: RunningService;
  let api: ServiceApi;

  before(async () => {
    work = await tempDir('service');
    await resetDatabase();
    backend = await new FakeBackend(BACKEND_TOKEN).start();
    service = await startService(work, { UPLOAD_ATTEMPTS: '3' });
    api = new ServiceApi(service.url, backend);
  });
  after(async () => {
    await service?.app.close();
    await backend?.stop();
    await fs.rm(work, { recursive: true, force: true });
  });

  it('refuses requests without the service token (401), with a wrong one (403) and invalid bodies (400, 413)', async () => {
    assert.equal((await api.call('GET', '/v1/jobs', undefined, null)).status, 401);
    assert.equal((await api.call('POST', '/v1/train', {}, null)).status, 401);
    assert.equal((await api.call('POST', '/v1/train', {}, 'not-the-token')).status, 403);
    const good = {
      channelId: '1',
      manifestUrl: backend.manifestUrl('1'),
      webhookUrl: backend.webhookUrl,
      authToken: 't',
    };
    const unknown = await api.call('POST', '/v1/train', { ...good, priority: 9 });
    assert.equal(unknown.status, 400);
    assert.deepEqual(unknown.body.message, ['property priority should not exist']);
    const notHttp = await api.call('POST', '/v1/train', { ...good, webhookUrl: 'file:///etc/passwd' });
    assert.equal(notHttp.status, 400);
    assert.deepEqual(notHttp.body.message, ['webhookUrl must be an http(s) URL']);
    assert.equal((await api.call('POST', '/v1/train', { ...good, channelId: '' })).status, 400);
    for (const unknownShare of [0.95, -0.1, '0.2', 'all']) {
      const refused = await api.call('POST', '/v1/train', { ...good, unknownShare });
      assert.equal(refused.status, 400, `unknownShare ${JSON.stringify(unknownShare)}`);
    }
    assert.equal((await api.call('POST', '/v1/train', { ...good, authToken: 'x'.repeat(70_000) })).status, 413);
    assert.equal((await api.call('GET', '/v1/jobs/not-a-uuid')).status, 400);
    assert.equal((await api.call('GET', '/v1/jobs/00000000-0000-4000-8000-000000000000')).status, 404);
    // Control characters: Postgres cannot store NUL, and a line break in a token would split a header.
    const nul = await api.call('POST', '/v1/train', { ...good, channelId: 'a\u0000b' });
    assert.equal(nul.status, 400);
    assert.match(JSON.stringify(nul.body), /channelId must not contain control characters/);
    assert.equal((await api.call('POST', '/v1/train', { ...good, authToken: 'token\r\nX-Evil: 1' })).status, 400);
    assert.equal((await api.call('GET', '/v1/jobs?channelId=%00')).status, 400);
    assert.equal((await api.call('GET', '/v1/channels/a%00b')).status, 400);
    for (const field of ['manifestUrl', 'webhookUrl'] as const) {
      const withNul = await api.call('POST', '/v1/train', { ...good, [field]: `${good[field]}\u0000x` });
      assert.equal(withNul.status, 400, `NUL in ${field}`);
      assert.deepEqual(withNul.body.message, [`${field} must not contain control characters`]);
      // A user name and password in a URL would replace the Bearer token and travel into messages.
      const withUserInfo = await api.call('POST', '/v1/train', {
        ...good,
        [field]: good[field].replace('http://', 'http://user:S3cretPass99@'),
      });
      assert.equal(withUserInfo.status, 400, `userinfo in ${field}`);
      assert.deepEqual(withUserInfo.body.message, [`${field} must not contain a user name or password`]);
      assert.doesNotMatch(JSON.stringify(withUserInfo.body), /S3cretPass99/);
    }
    // Arrays 30,000 deep (or objects 9,000 deep) used to overflow class-transformer's stack: a 500.
    const deepArray = `{"channelId": ${'['.repeat(30_000)}"1"${']'.repeat(30_000)}}`;
    const deepObject = `{"channelId": ${'{"a":'.repeat(9_000)}"1"${'}'.repeat(9_000)}}`;
    for (const body of [deepArray, deepObject]) {
      const deep = await api.call('POST', '/v1/train', body);
      assert.equal(deep.status, 400);
      assert.equal(deep.body.message, 'request body nests deeper than 32 levels');
    }
    // A job's own URLs never open the cloud's metadata service (refused before any connection is made).
    for (const host of ['169.254.169.254', '[fe80::1]', '[::ffff:169.254.169.254]']) {
      const metadata = `http://${host}/latest/meta-data/admin-api?query=query{x}`;
      const refused = await api.call('POST', '/v1/train', { ...good, manifestUrl: metadata, webhookUrl: metadata });
      assert.equal(refused.status, 400, host);
      assert.equal(refused.body.message.length, 2);
      assert.match(refused.body.message[0], /^manifestUrl: the link-local or metadata address .* is not allowed/);
      assert.match(refused.body.message[1], /^webhookUrl: /);
    }
    assert.deepEqual((await api.call('GET', '/v1/jobs?channelId=1')).body, [], 'nothing refused was stored');
  });

  it('trains a channel end to end: manifest, photos (404 and corrupt ones skipped), status webhooks, multipart upload', async () => {
    const items = backend.groceryProducts(QUICK_CLASSES.slice(0, 3), 6);
    items[0].images.push({ assetId: 'gone', url: backend.photoUrl('train/missing.jpg'), filename: 'missing.jpg' });
    items[1].images.push({ assetId: 'broken', url: `${backend.url}/assets/corrupt.jpg`, filename: 'corrupt.jpg' });
    backend.manifests.set('2', items);

    const accepted = await api.train('2', { unknownShare: 0.3 });
    assert.equal(accepted.status, 202);
    assert.equal(accepted.body.message, 'Training job accepted');
    const conflict = await api.train('2');
    assert.equal(conflict.status, 409);
    assert.equal(conflict.body.jobId, accepted.body.jobId);

    const job = await api.finished(accepted.body.jobId);
    assert.equal(job.state, 'completed', job.error);
    assert.equal(job.attempt, 1);
    assert.equal(job.progress, 100);
    assert.equal(job.metrics.products, 3);
    assert.equal(job.metrics.images, 18);
    assert.equal(job.metrics.recognition.unknownShare, 0.3, "the gate is calibrated for the job's unknown share");
    for (const stage of ['downloading', 'embedding', 'training', 'exporting', 'uploading'])
      assert.ok(job.timings[stage] >= 0, stage);
    const reasons = Object.fromEntries(job.skipped.map((s: { photo: string; reason: string }) => [s.photo, s.reason]));
    assert.equal(reasons['asset gone'], 'download failed: HTTP 404');
    assert.match(reasons['asset broken'], /not a readable image/);
    assert.ok(!existsSync(path.join(service.config.WORK_DIR, accepted.body.jobId)), 'working files are removed');

    // The manifest was fetched as the backend expects: POST {query} with the job's token.
    const manifestCall = backend.requests.find((r) => r.method === 'POST' && r.path === '/admin-api');
    assert.equal(manifestCall?.authorization, `Bearer ${BACKEND_TOKEN}`);
    assert.ok(
      backend.requests.filter((r) => r.path.startsWith('/assets/')).every((r) => r.authorization === undefined),
      'photos are fetched without credentials',
    );

    const statuses = backend.statusesOf('2');
    assert.deepEqual(statuses[0], { ...statuses[0], status: 'training', progress: 0, error: null });
    const progress = statuses.map((s) => s.progress!);
    for (let i = 1; i < progress.length; i++) {
      assert.ok(progress[i] >= progress[i - 1], `progress went back: ${progress}`);
      assert.ok(progress[i] - progress[i - 1] <= 10, `a gap over 10 points: ${progress}`);
    }
    assert.ok(progress[progress.length - 1] >= 90);

    const [upload] = backend.uploads;
    assert.deepEqual(upload.partOrder, ['operations', 'map', '0', '1', '2']);
    assert.equal(upload.operations.query, COMPLETE_TRAINING_MUTATION);
    assert.deepEqual(upload.operations.variables, {
      channelId: '2',
      modelJson: null,
      weightsFile: null,
      metadata: null,
    });
    assert.deepEqual(upload.map, {
      0: ['variables.modelJson'],
      1: ['variables.weightsFile'],
      2: ['variables.metadata'],
    });
    assert.deepEqual(
      [upload.modelJson.filename, upload.weightsFile.filename, upload.metadata.filename],
      ['model.json', 'weights.bin', 'metadata.json'],
    );
    const metadata = JSON.parse(upload.metadata.bytes.toString('utf8'));
    assert.deepEqual(
      metadata.labels,
      items.map((p) => p.productId),
    );
    assert.deepEqual(
      metadata.labelNames,
      items.map((p) => p.productName),
    );
    assert.equal(metadata.trainingId, job.metrics.trainingId);
    assert.equal(metadata.userMetadata.channelId, '2');
    // One statement of the model's quality: the job's status says what metadata.json says.
    assert.deepEqual(job.metrics.quality, metadata.quality);
    assert.ok(metadata.quality.headline.startsWith('3 products from 18 photos.'), metadata.quality.headline);

    // The uploaded files load and name a product for photos they never saw (how often rightly is test:data's to check).
    const modelDir = path.join(work, 'uploaded');
    await fs.mkdir(modelDir);
    await fs.writeFile(path.join(modelDir, 'model.json'), upload.modelJson.bytes);
    await fs.writeFile(path.join(modelDir, 'weights.bin'), upload.weightsFile.bytes);
    const val = TEST_PHOTOS.photos('val').filter((p) => QUICK_CLASSES.slice(0, 3).includes(p.classId));
    assert.ok(val.length > 0);
    const predictions = await predictPhotos(
      path.join(modelDir, 'model.json'),
      val.map((photo) => photo.file),
    );
    for (const p of predictions) {
      assert.equal(p.length, metadata.labels.length);
      assert.ok(Math.abs(p.reduce((a, b) => a + b, 0) - 1) < 1e-5, 'probabilities sum to 1');
    }

    // The job's report: linked from its status, HTML for the same token, not for another.
    assert.equal(job.reportUrl, `/v1/jobs/${accepted.body.jobId}/report`);
    const report = await fetch(`${service.url}${job.reportUrl}`, {
      headers: { authorization: `Bearer ${SERVICE_TOKEN}` },
    });
    assert.equal(report.status, 200);
    assert.equal(report.headers.get('content-type'), 'text/html; charset=utf-8');
    assert.match(report.headers.get('content-security-policy') ?? '', /default-src 'none'/);
    const html = await report.text();
    for (const product of items) assert.ok(html.includes(product.productName), product.productName);
    assert.match(html, new RegExp(`training id</th><td>${job.metrics.trainingId}`));
    assert.match(html, /Photos left out \(2\)/);
    for (const text of [metadata.quality.headline, metadata.quality.explanation, ...metadata.quality.advice])
      assert.ok(html.includes(escapeHtml(text)), `the report says: ${text}`);
    assert.equal((await fetch(`${service.url}${job.reportUrl}`)).status, 401);
  });

  it("learns from the till's confirmed scans the backend sends, and says what they measured", async () => {
    const classes = QUICK_CLASSES.slice(0, 3);
    const items = backend.groceryProducts(classes, 6);
    backend.manifests.set('scans', items);
    const val = TEST_PHOTOS.photos('val');
    const scanOf = (file: string, productId: string | null, i: number) => ({
      assetId: `scan-${i}`,
      url: backend.photoUrl(path.relative(TEST_PHOTOS.root, file)),
      filename: path.basename(file),
      productId,
      takenAt: new Date(Date.UTC(2026, 11, 1, 8, i)).toISOString(),
    });
    const scans = [
      ...val.filter((p) => classes.includes(p.classId)).map((p, i) => scanOf(p.file, `product-${p.classId}`, i)),
      ...val.filter((p) => p.classId === QUICK_CLASSES[3]).map((p, i) => scanOf(p.file, null, 100 + i)),
      { ...scanOf(val[0].file, 'product-not-listed', 200) },
      { ...scanOf(val[0].file, null, 201), url: backend.photoUrl('val/missing-scan.jpg') },
    ];
    backend.scans.set('scans', scans);
    const known = scans.filter((s) => s.productId?.startsWith('product-') && s.productId !== 'product-not-listed');
    const none = val.filter((p) => p.classId === QUICK_CLASSES[3]).length;

    const accepted = await api.train('scans');
    const job = await api.finished(accepted.body.jobId);
    assert.equal(job.state, 'completed', job.error);
    const figures = job.metrics.recognition.tillScans;
    assert.equal(figures.ofProducts, known.length);
    assert.equal(figures.ofNone, none, 'the scan that could not be fetched is not among them');
    assert.equal(figures.unknownShareFrom, 'scans');
    assert.equal(job.metrics.recognition.unknownShare, none / (known.length + none));
    assert.ok(
      job.metrics.warnings.includes(
        '1 scan(s) left out: they name product(s) the manifest does not list (product-not-listed)',
      ),
      JSON.stringify(job.metrics.warnings),
    );
    assert.deepEqual(
      job.skipped.filter((s: { photo: string }) => s.photo.startsWith('scan ')),
      [{ product: '(none of the products)', photo: 'scan scan-201', reason: 'download failed: HTTP 404' }],
    );
    const metadata = JSON.parse(backend.uploads.at(-1)!.metadata.bytes.toString('utf8'));
    assert.deepEqual(job.metrics.quality, metadata.quality);
    assert.deepEqual(metadata.recognition.tillScans, figures);
    assert.match(metadata.quality.explanation, new RegExp(`Measured on ${known.length + none} scans the till's`));
    const html = await (
      await fetch(`${service.url}${job.reportUrl}`, { headers: { authorization: `Bearer ${SERVICE_TOKEN}` } })
    ).text();
    assert.ok(html.includes(escapeHtml(metadata.quality.explanation)), 'the report says what the scans measured');
    assert.equal(figures.sincePrevious, null, 'the first model of the channel: nothing to compare with');

    // The next training: the scans taken since compare this model with the one the till has been running.
    const later = Date.now() + 1000;
    const recent = scans
      .slice(0, known.length + none)
      .map((scan, i) => ({ ...scan, assetId: `recent-${i}`, takenAt: new Date(later + i).toISOString() }));
    backend.scans.set('scans', [...scans.slice(0, 2), ...recent]);
    const next = await api.finished((await api.train('scans')).body.jobId);
    assert.equal(next.state, 'completed', next.error);
    const since = next.metrics.recognition.tillScans.sincePrevious;
    assert.equal(since.trainingId, job.metrics.trainingId);
    assert.equal(since.thisModel.ofProducts, known.length, 'only the scans taken since the last model');
    assert.equal(since.previousModel.ofNone, none);
    const { namedRight, namedWrong } = since.previousModel;
    assert.ok(namedRight + namedWrong <= known.length);
    assert.match(
      next.metrics.quality.explanation,
      new RegExp(`Of the ${known.length + none} scans taken since the last model \\(trained \\d{4}-\\d\\d-\\d\\d; `),
    );
  });

  it('lists jobs by channel and state, newest first', async () => {
    const all = await api.call('GET', '/v1/jobs?channelId=2');
    assert.equal(all.status, 200);
    assert.equal(all.body.length, 1);
    assert.equal(all.body[0].channelId, '2');
    assert.equal(all.body[0].authToken, undefined);
    assert.ok(!JSON.stringify(all.body).includes(BACKEND_TOKEN), 'the backend token never leaves the service');
    assert.equal((await api.call('GET', '/v1/jobs?status=failed')).body.length, 0);
    assert.equal((await api.call('GET', '/v1/jobs?limit=0')).status, 400);
    assert.equal((await api.call('GET', '/v1/jobs?status=lost')).status, 400);
  });

  it('answers 404 for the report of a job that is unknown, or did not complete', async () => {
    const unknown = await api.call('GET', `/v1/jobs/${crypto.randomUUID()}/report`);
    assert.equal(unknown.status, 404);
    assert.match(unknown.body.message, /^no job /);
    assert.equal((await api.call('GET', '/v1/jobs/not-a-uuid/report')).status, 400);
    backend.manifests.set('33', backend.groceryProducts(QUICK_CLASSES.slice(0, 1), 2));
    const accepted = await api.train('33');
    const failed = await api.finished(accepted.body.jobId);
    assert.equal(failed.state, 'failed');
    assert.equal(failed.reportUrl, null);
    const answer = await api.call('GET', `/v1/jobs/${accepted.body.jobId}/report`);
    assert.equal(answer.status, 404);
    assert.match(answer.body.message, /is failed: a report comes with a completed job/);
  });

  it('fails a job with the message of GraphQL errors on the manifest, and tells the backend', async () => {
    backend.manifests.set('3', { graphqlError: 'Channel 3 is not allowed to train' });
    const { body } = await api.train('3');
    const job = await api.finished(body.jobId);
    assert.equal(job.state, 'failed');
    assert.match(job.error, /Channel 3 is not allowed to train/);
    assert.equal(job.attempt, 1, 'a refused manifest is not retried');
    assert.match((await backend.lastFailedStatus('3')).error ?? '', /Channel 3 is not allowed to train/);
  });

  it('retries a flaky upload (503 twice, then accepted)', async () => {
    backend.manifests.set('4', backend.groceryProducts(QUICK_CLASSES.slice(0, 2), 4));
    backend.uploadScript.push(503, 503);
    const before = backend.uploadAttempts;
    const { body } = await api.train('4');
    const job = await api.finished(body.jobId);
    assert.equal(job.state, 'completed', job.error);
    assert.equal(backend.uploadAttempts - before, 3);
    assert.equal(backend.uploads.filter((u) => u.channelId === '4').length, 1);
  });

  it('fails the job after the upload retries when the backend is down for the whole upload; a later training works', async () => {
    backend.manifests.set('5', backend.groceryProducts(QUICK_CLASSES.slice(0, 2), 4));
    backend.uploadScript.push(500, 503);
    backend.uploadDefault = 'unreachable';
    const before = backend.uploadAttempts;
    const { body } = await api.train('5');
    const job = await api.finished(body.jobId);
    backend.uploadDefault = 'ok';
    assert.equal(job.state, 'failed');
    assert.match(job.error, /^upload failed after 3 attempts: ECONNRESET \(socket hang up\)$/);
    assert.equal(backend.uploadAttempts - before, 3);
    await backend.lastFailedStatus('5');
    assert.ok(
      !existsSync(path.join(service.config.WORK_DIR, body.jobId)),
      'working files are removed after a failure too',
    );
    const again = await api.train('5');
    assert.equal(again.status, 202);
    assert.equal((await api.finished(again.body.jobId)).state, 'completed');
  });

  it('keeps the model when an upload is answered HTTP 200 with a body that is not JSON, and uploads it again', async () => {
    backend.manifests.set('24', backend.groceryProducts(QUICK_CLASSES.slice(0, 2), 3));
    backend.uploadScript.push('not-json', 'not-json', 'not-json');
    const { body } = await api.train('24');
    const job = await api.finished(body.jobId);
    assert.equal(job.state, 'completed', job.error);
    assert.equal(job.attempt, 2, 'the next attempt uploads the kept model');
    const uploads = backend.uploads.filter((u) => u.channelId === '24');
    assert.equal(uploads.length, 4);
    assert.equal(new Set(uploads.map((u) => u.metadata.bytes.toString())).size, 1, 'the same model each time');
  });

  it('uploads no model trained on cached embeddings that are not its photos’: the next attempt embeds them anew', async (t) => {
    backend.manifests.set('25', backend.groceryProducts([4, 3], 12));
    const cacheDir = service.config.embeddingCacheDir;
    const entries = async () =>
      new Set((await fs.readdir(cacheDir, { recursive: true }).catch(() => [])).filter((f) => f.endsWith('.f32')));
    const before = await entries();
    const first = await api.finished((await api.train('25')).body.jobId);
    assert.equal(first.state, 'completed', first.error);
    // This job's new entries, each given another one's embedding with a checksum that matches it.
    const keys = [...(await entries())].filter((f) => !before.has(f)).map((f) => path.basename(f, '.f32'));
    assert.ok(keys.length >= 24, `${keys.length} new entries`);
    const cache = new EmbeddingCache(cacheDir, 'the keys are given');
    const embeddings = await Promise.all(keys.map((key) => cache.get(key)));
    await Promise.all(keys.map((key, i) => cache.put(key, embeddings[(i + 1) % keys.length]!)));

    const second = await api.finished((await api.train('25')).body.jobId);
    assert.equal(second.state, 'completed', second.error);
    assert.equal(second.attempt, 2, 'the first attempt refused its model');
    const uploads = backend.uploads.filter((u) => u.channelId === '25');
    assert.equal(uploads.length, 2, 'one upload per job: the refused model was never sent');
    // The same photos: the model of before, but for the fit's tolerance (the second starts from the first's head).
    const weights = (upload: (typeof uploads)[number]) => {
      const bytes = upload.weightsFile.bytes;
      return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
    };
    const [earlier, again] = uploads.map(weights);
    let largest = 0;
    let difference = 0;
    earlier.forEach((w, i) => {
      largest = Math.max(largest, Math.abs(w));
      difference = Math.max(difference, Math.abs(w - again[i]));
    });
    t.diagnostic(`the same photos again: weights differ by at most ${difference} (the largest is ${largest})`);
    assert.ok(difference < 0.01 * largest, `weights differ by ${difference}, the largest is ${largest}`);
  });

  it('does not follow an upload redirect to a host outside ALLOWED_HOSTS', async () => {
    backend.manifests.set('9', backend.groceryProducts(QUICK_CLASSES.slice(0, 2), 3));
    backend.uploadScript.push('redirect-elsewhere');
    const before = backend.uploadAttempts;
    const { body } = await api.train('9');
    const job = await api.finished(body.jobId);
    assert.equal(job.state, 'failed');
    assert.match(job.error, /^upload refused: .*host localhost is not in ALLOWED_HOSTS/);
    assert.equal(backend.uploadAttempts - before, 1, 'refused at once, not retried, never sent to the other host');
    assert.equal(backend.uploads.filter((u) => u.channelId === '9').length, 0);
  });

  it('completes a job even when every status webhook fails', async () => {
    backend.manifests.set('8', backend.groceryProducts(QUICK_CLASSES.slice(0, 2), 4));
    backend.statusDefault = 503;
    const { body } = await api.train('8');
    const job = await api.finished(body.jobId);
    backend.statusDefault = 'ok';
    assert.equal(job.state, 'completed', job.error);
    assert.equal(backend.statusesOf('8').length, 0);
    assert.equal(backend.uploads.filter((u) => u.channelId === '8').length, 1);
  });

  it('keeps /health fast while a model trains (p99 under 100 ms over 200 requests)', async () => {
    backend.manifests.set('6', backend.groceryProducts(QUICK_CLASSES, 10));
    const { body } = await api.train('6');
    // Asked often: with most of these photos' embeddings cached by earlier tests, the stage can last under 200 ms
    // (a CI run polled every 200 ms, missed it and timed out).
    await waitFor(
      'training to start',
      async () => ((await api.job(body.jobId)).stage === 'embedding' ? true : undefined),
      60_000,
      20,
    );
    const times: number[] = [];
    for (let i = 0; i < 200; i++) {
      const started = performance.now();
      const response = await fetch(`${service.url}/health`);
      await response.text();
      times.push(performance.now() - started);
      assert.equal(response.status, 200);
    }
    const during = (await api.job(body.jobId)).state;
    times.sort((a, b) => a - b);
    const p99 = times[Math.ceil(times.length * 0.99) - 1];
    assert.ok(p99 < 100, `p99 ${p99.toFixed(1)} ms`);
    assert.equal(during, 'running', 'the requests were made while the job ran');
    assert.equal((await api.finished(body.jobId)).state, 'completed');
  });

  it('exposes Prometheus metrics: jobs by state, stage durations, throughput, download failures, retries', async () => {
    const response = await fetch(`${service.url}/metrics`);
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /text\/plain/);
    const text = await response.text();
    const value = (pattern: RegExp) => Number(pattern.exec(text)?.[1] ?? NaN);
    assert.ok(value(/^ml_trainer_jobs\{state="completed"\} (\d+)/m) >= 4);
    assert.ok(value(/^ml_trainer_jobs\{state="failed"\} (\d+)/m) >= 2);
    assert.ok(value(/^ml_trainer_stage_duration_seconds_count\{stage="embedding"\} (\d+)/m) >= 4);
    assert.ok(value(/^ml_trainer_images_embedded_per_second (\S+)/m) > 0);
    assert.ok(value(/^ml_trainer_download_failures_total\{reason="http_4xx"\} (\d+)/m) >= 1);
    assert.ok(value(/^ml_trainer_upload_retries_total (\d+)/m) >= 2);
    assert.ok(value(/^ml_trainer_webhook_retries_total (\d+)/m) >= 1);
    assert.ok(!text.includes(BACKEND_TOKEN));
  });
});
