/** One attempt of a job against fake records, a fake backend and a fake trainer: outcomes, statuses, retries. */
import assert from 'node:assert/strict';
import { redactSecrets } from '../auth/secrets';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { TokenSeal } from '../auth/token-seal';
import { DatasetError, ManifestUnavailableError } from '../dataset/dataset.types';
import { jobHarness, SERVICE_TOKEN, type JobHarness } from '../../test/fakes/job-harness';
import { JobLostError } from './job.processor';

describe('JobProcessor (one attempt, on fakes)', () => {
  let h: JobHarness;
  beforeEach(async () => (h = await jobHarness()));
  afterEach(() => h.close());

  it('trains, keeps, uploads and completes the job, reporting progress on the way', async () => {
    const job = h.queued();
    const run = h.processor.start(job.id, 1);
    assert.equal((await run.claim)?.id, job.id);
    await run.done;

    const record = h.records.get(job.id);
    assert.equal(record.status, 'completed');
    assert.equal(record.progress, 100);
    assert.equal(record.workerId, null);
    assert.equal(record.result?.trainingId, 'training-1');
    assert.deepEqual(Object.keys(record.timings).sort(), [
      'downloading',
      'embedding',
      'exporting',
      'training',
      'uploading',
    ]);
    assert.deepEqual(record.skipped, [{ product: 'p2', photo: 'asset 3', reason: 'download failed: HTTP 404' }]);
    assert.equal(h.records.kept.size, 0, 'an ended job keeps no model');

    assert.equal(h.backend.uploads.length, 1);
    assert.deepEqual(JSON.parse(Buffer.from(h.backend.uploads[0].files.modelJson).toString()), {
      trainingId: 'training-1',
    });
    const progress = h.backend.progressSent();
    assert.ok(progress.length >= 3, `progress sent: ${progress.join(', ')}`);
    assert.deepEqual(
      [...progress].sort((a, b) => a - b),
      progress,
      'progress never goes back',
    );
    assert.ok(progress.at(-1)! >= 93, 'the upload is announced');
    assert.ok(!h.backend.statuses.some((s) => s.status === 'failed'));
    assert.equal(h.listener.calls[0], 'started c1');
    assert.equal(h.listener.calls.at(-1), 'succeeded c1');
  });

  it('hands a retryable failure back to the queue, and the next attempt uploads the kept model without training', async () => {
    const job = h.queued();
    h.backend.uploadError = new Error('HTTP 503');
    await assert.rejects(h.processor.start(job.id, 1).done, /HTTP 503/);
    let record = h.records.get(job.id);
    assert.equal(record.status, 'queued');
    assert.equal(record.workerId, null);
    assert.match(record.error ?? '', /^attempt 1 failed: HTTP 503; retrying$/);
    assert.equal(h.records.kept.size, 1, 'the trained model is kept for the next attempt');
    assert.ok(!h.backend.statuses.some((s) => s.status === 'failed'), 'no failure is reported while retries remain');

    await h.processor.start(job.id, 2).done;
    record = h.records.get(job.id);
    assert.equal(record.status, 'completed');
    assert.equal(record.attempt, 2);
    assert.equal(h.trainer.trainings, 1, 'trained once');
    assert.equal(h.backend.manifestRequests, 1, 'the manifest was not asked for again');
    assert.equal(h.backend.uploads.length, 1);
    assert.equal(record.result?.trainingId, 'training-1', 'the same model, same trainingId');
  });

  it('fails the job at once on a final error, and sends the backend the reason', async () => {
    const job = h.queued();
    h.backend.manifestError = new DatasetError('the manifest has fewer than 2 products with photos');
    await h.processor.start(job.id, 1).done;
    const record = h.records.get(job.id);
    assert.equal(record.status, 'failed');
    assert.equal(record.error, 'the manifest has fewer than 2 products with photos');
    assert.deepEqual(
      h.backend.statuses.filter((s) => s.status === 'failed'),
      [
        {
          channelId: 'c1',
          status: 'failed',
          progress: null,
          error: 'the manifest has fewer than 2 products with photos',
        },
      ],
    );
    assert.equal(h.listener.calls.at(-1), 'failed c1 the manifest has fewer than 2 products with photos');
  });

  it("scrubs a job's token and the service token from what it records and sends, after 2,000 other jobs' tokens", async () => {
    for (let i = 0; i < 2000; i++) {
      const other = h.queued({ channelId: `other-${i}` }, `backend-token-of-job-${i}-0123456789`);
      h.backend.manifestError = new DatasetError('no products');
      await h.processor.start(other.id, 1).done;
    }
    const token = 'backend-token-quoted-back-0123456789';
    const job = h.queued({ channelId: 'c9' }, token);
    h.backend.manifestError = new DatasetError(`token ${token} may not read channel c9 (${SERVICE_TOKEN})`);
    await h.processor.start(job.id, 1).done;
    const expected = 'token [redacted] may not read channel c9 ([redacted])';
    assert.equal(h.records.get(job.id).error, expected);
    assert.equal(h.backend.statuses.filter((s) => s.channelId === 'c9').at(-1)?.error, expected);
    assert.equal(redactSecrets(`late answer quoting ${token}`), 'late answer quoting [redacted]');
  });

  it("shows no folder of the service in a job's error, in its record or in the webhook", async () => {
    const job = h.queued({ maxAttempts: 1 });
    h.trainer.error = new Error(`protobuf parse error in ${h.config.MODEL_CACHE_DIR}/onnx/e159.v1.onnx`);
    await h.processor.start(job.id, 1).done;
    assert.equal(h.records.get(job.id).error, 'protobuf parse error in MODEL_CACHE_DIR/onnx/e159.v1.onnx');
    assert.equal(
      h.backend.statuses.filter((s) => s.status === 'failed').at(-1)?.error,
      'protobuf parse error in MODEL_CACHE_DIR/onnx/e159.v1.onnx',
    );
  });

  it('fails the job when a retryable failure happens on its last attempt', async () => {
    const job = h.queued({ maxAttempts: 2 });
    h.backend.manifestError = new ManifestUnavailableError('manifest request failed: HTTP 502');
    await assert.rejects(h.processor.start(job.id, 1).done, /HTTP 502/);
    assert.equal(h.records.get(job.id).status, 'queued');
    await h.processor.start(job.id, 2).done;
    assert.equal(h.records.get(job.id).status, 'failed');
    assert.equal(h.backend.statuses.filter((s) => s.status === 'failed').length, 1);
  });

  it('abandons an attempt whose job another process took over, uploading nothing', async () => {
    const job = h.queued();
    h.records.onCall = (method) => {
      if (method === 'keepModel') h.records.get(job.id).workerId = 'another-process';
    };
    await assert.rejects(h.processor.start(job.id, 1).done, JobLostError);
    assert.equal(h.backend.uploads.length, 0);
    assert.equal(h.records.get(job.id).status, 'running', 'the record is the other process’s to end');
    assert.ok(!h.backend.statuses.some((s) => s.status === 'failed'));
  });

  it('waits for an unreachable database to write the completion instead of losing the trained job', async () => {
    const job = h.queued();
    h.records.onCall = (method) => {
      if (method !== 'complete') return;
      h.records.onCall = () => undefined;
      h.records.unreachable = true;
      setTimeout(() => (h.records.unreachable = false), 1000);
    };
    const started = Date.now();
    await h.processor.start(job.id, 1).done;
    assert.equal(h.records.get(job.id).status, 'completed');
    assert.ok(Date.now() - started >= 1900, 'retried after the 2 s wait');
    assert.equal(h.backend.uploads.length, 1);
  });

  it('skips an attempt whose job has ended, and refuses one whose job runs elsewhere', async () => {
    const ended = h.queued({ status: 'completed' });
    const skipped = h.processor.start(ended.id, 2);
    assert.equal(await skipped.claim, null);
    await skipped.done;
    const elsewhere = h.queued({ status: 'running', workerId: 'another-process' });
    await assert.rejects(h.processor.start(elsewhere.id, 2).done, /is running in another-process; not started/);
    assert.equal(h.trainer.trainings, 0);
  });

  it('fails a job whose token cannot be opened, without calling the backend', async () => {
    const job = h.queued({ sealedAuthToken: new TokenSeal('some-other-service-token').seal('t') });
    await h.processor.start(job.id, 1).done;
    assert.match(h.records.get(job.id).error ?? '', /cannot be decrypted \(was ML_SERVICE_TOKEN changed/);
    assert.equal(h.backend.statuses.length, 0);
  });
});

describe('JobProcessor at its ceiling (JOB_TIMEOUT_SECONDS)', () => {
  it('fails an attempt that runs past it, and sends nothing more but the failure', async () => {
    const h = await jobHarness({ JOB_TIMEOUT_SECONDS: '1' });
    try {
      const job = h.queued();
      h.trainer.hold = new Promise(() => undefined);
      await h.processor.start(job.id, 1).done;
      const record = h.records.get(job.id);
      assert.equal(record.status, 'failed');
      assert.equal(record.error, 'the attempt ran longer than JOB_TIMEOUT_SECONDS (1 s)');
      assert.equal(h.backend.uploads.length, 0);
      assert.equal(h.backend.statuses.at(-1)?.status, 'failed');
    } finally {
      await h.close();
    }
  });
});
