/** End-to-end: jobs across killed, stopped and concurrent service processes. */
import assert from 'node:assert/strict';
import { existsSync, promises as fs } from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FakeBackend } from './support/fake-backend';
import { tempDir } from './support/fixtures';
import { SERVICE_TOKEN, waitFor } from './support/service-app';
import { resetDatabase, withDatabase } from './support/test-database';
import { ServiceApi } from './support/service-api';
import { TestServiceProcess } from './support/service-process';
import { QUICK_CLASSES } from './support/shared';

const BACKEND_TOKEN = 'backend-token-restart';
/** Stale after 3 s to keep the test quick (a real deployment keeps 60 s); every log line, for the log tests. */
const ENV = { JOB_STALE_SECONDS: '3', JOB_RETRY_DELAY_SECONDS: '1', LOG_LEVEL: 'info' };

describe('durable jobs across processes', () => {
  let work: string;
  let backend: FakeBackend;
  const processes: TestServiceProcess[] = [];
  const service = (name: string, env: Record<string, string> = {}) => {
    const p = new TestServiceProcess(work, { ...ENV, ...env }, path.join(work, `${name}.log`));
    processes.push(p);
    return p.start();
  };
  const apiOf = (p: TestServiceProcess) => new ServiceApi(p.url, backend);
  const jobRecord = async (jobId: string) => {
    return withDatabase(
      async (db) => (await db.query('SELECT status, attempt, error FROM training_job WHERE id = $1', [jobId])).rows[0],
    );
  };

  before(async () => {
    work = await tempDir('restart');
    await resetDatabase();
    backend = await new FakeBackend(BACKEND_TOKEN).start();
  });
  after(async () => {
    await Promise.all(processes.map((p) => p.kill()));
    await backend.stop();
    await fs.rm(work, { recursive: true, force: true });
  });

  it('a job whose process is killed mid-way runs again from the start in the next process and completes', async () => {
    backend.manifests.set('7', backend.groceryProducts(QUICK_CLASSES, 12));
    backend.photoDelayMs = 150;
    const first = await service('first');
    const { status, body } = await apiOf(first).train('7');
    assert.equal(status, 202);
    await apiOf(first).running(body.jobId);
    await first.kill();
    backend.photoDelayMs = 0;

    const second = await service('second');
    const done = await apiOf(second).finished(body.jobId);
    assert.equal(done.state, 'completed', done.error);
    assert.equal(done.attempt, 2, 'the record shows the second attempt');
    assert.equal(done.error, null);
    assert.equal(backend.uploads.filter((u) => u.channelId === '7').length, 1);
    assert.ok(!existsSync(path.join(work, 'work', body.jobId)), 'the killed attempt’s working files are gone');
    await second.stop();
  });

  it('a model the backend took just before a kill -9 is uploaded again unchanged (same trainingId, same bytes), not retrained', async () => {
    backend.manifests.set('51', backend.groceryProducts(QUICK_CLASSES, 3));
    backend.uploadScript.push('accept-silently');
    const first = await service('upload-kill');
    const { body } = await apiOf(first).train('51');
    await waitFor('the first upload', async () => backend.uploads.some((u) => u.channelId === '51') || undefined);
    await first.kill();
    const photoRequests = backend.requests.filter((r) => r.path.startsWith('/assets/')).length;

    const second = await service('upload-again');
    const done = await apiOf(second).finished(body.jobId);
    assert.equal(done.state, 'completed', done.error);
    assert.equal(done.attempt, 2);
    const uploads = backend.uploads.filter((u) => u.channelId === '51');
    assert.equal(uploads.length, 2, 'at least once: the upload is repeated');
    const [before, again] = uploads;
    assert.equal(
      JSON.parse(again.metadata.bytes.toString()).trainingId,
      JSON.parse(before.metadata.bytes.toString()).trainingId,
    );
    assert.ok(again.weightsFile.bytes.equals(before.weightsFile.bytes), 'the same weights');
    assert.ok(again.modelJson.bytes.equals(before.modelJson.bytes));
    assert.equal(done.metrics.trainingId, JSON.parse(before.metadata.bytes.toString()).trainingId);
    assert.equal(
      backend.requests.filter((r) => r.path.startsWith('/assets/')).length,
      photoRequests,
      'no photo was downloaded again',
    );
    assert.equal(
      await withDatabase(async (db) => (await db.query('SELECT count(*)::int AS n FROM trained_model')).rows[0].n),
      0,
      'the kept model is removed once the job has ended',
    );
    await second.stop();
  });

  it('an attempt past JOB_TIMEOUT_SECONDS fails the job with that reason, frees its slot at once and sends nothing more', async () => {
    const stuck = backend.groceryProducts(QUICK_CLASSES, 3);
    // Trickles a byte a second: only DOWNLOAD_TIMEOUT_SECONDS would end it, after 3 attempts of 30 s.
    stuck[0].images.push({ assetId: 'slow', url: backend.photoUrl('trickle.jpg'), filename: 'slow.jpg' });
    backend.manifests.set('61', stuck);
    backend.manifests.set('62', backend.groceryProducts(QUICK_CLASSES, 3));
    const p = await service('job-timeout', { JOB_TIMEOUT_SECONDS: '10', TRAINING_CONCURRENCY: '1' });
    const started = Date.now();
    const timedOut = (await apiOf(p).train('61')).body.jobId;
    const next = (await apiOf(p).train('62')).body.jobId;
    const failed = await apiOf(p).finished(timedOut);
    const failedAfter = (Date.now() - started) / 1000;
    assert.equal(failed.state, 'failed');
    assert.equal(failed.attempt, 1, 'not retried');
    assert.match(failed.error, /ran longer than JOB_TIMEOUT_SECONDS \(10 s\)/);
    assert.ok(failedAfter < 15, `failed after ${failedAfter} s`);
    const done = await apiOf(p).finished(next);
    assert.equal(done.state, 'completed', done.error);
    const doneAfter = (Date.now() - started) / 1000;
    assert.ok(doneAfter < 45, `the next channel's job ended ${doneAfter} s in, long before the stuck download's 90 s`);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const statuses = backend.statusesOf('61');
    const failedAt = statuses.findIndex((s) => s.status === 'failed');
    assert.ok(failedAt >= 0, 'the backend was told');
    assert.deepEqual(statuses.slice(failedAt + 1), [], 'no status webhook after the failure');
    assert.equal(backend.uploads.filter((u) => u.channelId === '61').length, 0);
    await p.stop();
  });

  it('a process whose clock is 60 s behind keeps its running job: heartbeats use the database’s clock', async () => {
    backend.manifests.set('41', backend.groceryProducts(QUICK_CLASSES, 12));
    backend.photoDelayMs = 100;
    const behind = await service('clock-behind', {
      NODE_OPTIONS: `--require ${path.join(__dirname, 'support', 'clock-behind.js')}`,
      CLOCK_OFFSET_MS: '-60000',
    });
    const { body } = await apiOf(behind).train('41');
    await apiOf(behind).running(body.jobId);
    // Another process checks for stale jobs (every JOB_STALE_SECONDS / 4) while the job runs well past 3 s.
    const watcher = await service('clock-watcher');
    const done = await apiOf(watcher).finished(body.jobId);
    backend.photoDelayMs = 0;
    assert.equal(done.state, 'completed', done.error);
    assert.equal(done.attempt, 1, 'the job was not taken from the process whose clock is behind');
    assert.equal(backend.uploads.filter((u) => u.channelId === '41').length, 1);
    await Promise.all([behind.stop(), watcher.stop()]);
  });

  it('SIGTERM: the running job finishes within the grace period, and no new job is taken', async () => {
    backend.manifests.set('21', backend.groceryProducts(QUICK_CLASSES, 3));
    backend.manifests.set('22', backend.groceryProducts(QUICK_CLASSES, 3));
    const p = await service('sigterm-finish', { SHUTDOWN_GRACE_SECONDS: '120' });
    const running = await apiOf(p).train('21');
    await apiOf(p).running(running.body.jobId);
    const stopped = p.stop();
    // The HTTP API still answers during the grace period; the job it accepts waits for another process.
    const later = await apiOf(p).train('22');
    assert.equal(later.status, 202);
    await stopped;
    assert.deepEqual(await jobRecord(running.body.jobId), { status: 'completed', attempt: 1, error: null });
    assert.equal(backend.uploads.filter((u) => u.channelId === '21').length, 1);
    const waiting = await jobRecord(later.body.jobId);
    assert.equal(waiting.status, 'queued', 'a stopping process takes no new job');

    const next = await service('sigterm-next');
    const done = await apiOf(next).finished(later.body.jobId);
    assert.equal(done.state, 'completed', done.error);
    await next.stop();
  });

  it('SIGTERM: a job that cannot finish within the grace period goes back to the queue, even on its last attempt, and the next start runs it', async () => {
    backend.manifests.set('23', backend.groceryProducts(QUICK_CLASSES, 12));
    backend.photoDelayMs = 300;
    // One attempt only: a shutdown must not use it up.
    const p = await service('sigterm-handback', { SHUTDOWN_GRACE_SECONDS: '1', JOB_MAX_ATTEMPTS: '1' });
    const { body } = await apiOf(p).train('23');
    await apiOf(p).running(body.jobId);
    const t0 = Date.now();
    await p.stop();
    assert.ok(Date.now() - t0 < 15_000, `shutdown took ${Date.now() - t0} ms with a 1 s grace period`);
    const record = await jobRecord(body.jobId);
    assert.equal(record.status, 'queued');
    assert.match(record.error, /interrupted by a shutdown/);
    assert.equal(backend.uploads.filter((u) => u.channelId === '23').length, 0);
    backend.photoDelayMs = 0;

    const next = await service('sigterm-resume');
    const done = await apiOf(next).finished(body.jobId);
    assert.equal(done.state, 'completed', done.error);
    assert.equal(done.attempt, 2);
    assert.equal(done.maxAttempts, 2, 'the interrupted attempt was given back');
    assert.equal(backend.uploads.filter((u) => u.channelId === '23').length, 1);
    await next.stop();
  });

  it('two processes on one database run every job once and never two jobs of one channel', async () => {
    for (const channel of ['11', '12', '13']) backend.manifests.set(channel, backend.groceryProducts(QUICK_CLASSES, 4));
    const [a, b] = await Promise.all([service('a'), service('b')]);
    const ids: string[] = [];
    for (const [i, channel] of ['11', '12', '13'].entries()) {
      const first = await apiOf(i % 2 ? a : b).train(channel);
      assert.equal(first.status, 202);
      ids.push(first.body.jobId);
      const duplicate = await apiOf(i % 2 ? b : a).train(channel);
      assert.equal(duplicate.status, 409, 'the other process sees the queued job');
      assert.equal(duplicate.body.jobId, first.body.jobId);
    }
    const finished = await Promise.all(ids.map((id) => apiOf(a).finished(id)));
    for (const j of finished) {
      assert.equal(j.state, 'completed', j.error);
      assert.equal(j.attempt, 1);
    }
    for (const channel of ['11', '12', '13']) {
      assert.equal(
        backend.uploads.filter((u) => u.channelId === channel).length,
        1,
        `channel ${channel} uploaded once`,
      );
    }
    await Promise.all([a.stop(), b.stop()]);
  });

  it('writes JSON log lines, and every line of a job carries its jobId and channelId', async () => {
    const items = backend.groceryProducts(QUICK_CLASSES, 3);
    items[0].images.push({ assetId: 'gone', url: backend.photoUrl('no/such/photo.jpg'), filename: 'gone.jpg' });
    backend.manifests.set('24', items);
    backend.uploadScript.push(503);
    const p = await service('json-logs');
    const logFile = path.join(work, 'json-logs.log');
    const { body } = await apiOf(p).train('24');
    const done = await apiOf(p).finished(body.jobId);
    assert.equal(done.state, 'completed', done.error);
    await p.stop();

    const lines = (await fs.readFile(logFile, 'utf8')).split('\n').filter(Boolean);
    const records = lines.map((line) => {
      try {
        return JSON.parse(line) as Record<string, unknown>;
      } catch {
        throw new Error(`not a JSON log line: ${line}`);
      }
    });
    const ofJob = records.filter((r) => String(r.msg).includes(body.jobId) || r.jobId === body.jobId);
    const contexts = new Set(ofJob.map((r) => r.context));
    assert.ok(ofJob.length >= 4, `only ${ofJob.length} lines about the job`);
    for (const context of ['JobsService', 'JobProcessor', 'BackendClient'])
      assert.ok(contexts.has(context), `no job line from ${context}: ${[...contexts].join(', ')}`);
    for (const r of ofJob) {
      assert.equal(r.jobId, body.jobId, `a job line without its jobId: ${JSON.stringify(r)}`);
      assert.equal(r.channelId, '24', `a job line without its channelId: ${JSON.stringify(r)}`);
    }
    assert.ok(
      ofJob.some((r) => r.level === 40 && /gone.*HTTP 404/.test(String(r.msg))),
      'the skipped photo is logged with the job',
    );
    const request = records.find((r) => (r.req as { path?: string } | undefined)?.path === '/v1/train');
    assert.ok(request, 'requests are logged');
    assert.deepEqual(Object.keys(request.req as object).sort(), ['id', 'method', 'path'], 'no request headers');
  });

  it('never writes a token to the logs, the job records or the model, even when things fail', async () => {
    const c = await service('secrets');
    backend.manifests.set('14', backend.groceryProducts(QUICK_CLASSES, 3));
    backend.statusDefault = 503;
    backend.uploadDefault = 'graphql-errors';
    const { body } = await apiOf(c).train('14');
    assert.equal((await apiOf(c).finished(body.jobId)).state, 'failed');
    backend.statusDefault = 'ok';
    // A backend that quotes the tokens back in its error message.
    backend.manifests.set('15', { graphqlError: `token ${BACKEND_TOKEN} may not read channel 15 (${SERVICE_TOKEN})` });
    const echoed = await apiOf(c).finished((await apiOf(c).train('15')).body.jobId);
    assert.equal(echoed.state, 'failed');
    assert.match(echoed.error, /token \[redacted\] may not read channel 15 \(\[redacted\]\)/);
    assert.equal(
      (await backend.lastFailedStatus('15')).error,
      echoed.error,
      'the failed status carries the scrubbed error',
    );
    backend.uploadDefault = 'ok';
    await apiOf(c).call('GET', '/v1/jobs', undefined, BACKEND_TOKEN);
    await c.stop();

    const secrets = [SERVICE_TOKEN, BACKEND_TOKEN];
    for (const log of (await fs.readdir(work)).filter((f) => f.endsWith('.log'))) {
      const text = await fs.readFile(path.join(work, log), 'utf8');
      assert.ok(text.length > 0);
      for (const secret of secrets) assert.ok(!text.includes(secret), `${log} contains a token`);
    }
    const rows = await withDatabase(async (db) =>
      JSON.stringify(
        (await db.query('SELECT * FROM training_job')).rows.concat(
          (await db.query('SELECT * FROM channel_training_state')).rows,
        ),
      ),
    );
    assert.ok(rows.includes('"channel_id":"14"'));
    for (const secret of secrets) assert.ok(!rows.includes(secret), 'a job or channel record contains a token');
    for (const upload of backend.uploads) {
      for (const secret of secrets)
        assert.ok(!upload.metadata.bytes.toString().includes(secret), 'metadata.json contains a token');
    }
  });
});
