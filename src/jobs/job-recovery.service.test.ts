/** The process's share of the queue on fakes: start-up clean-up, hand-back at shutdown, stale and stranded jobs. */
import { randomUUID } from 'node:crypto';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { jobHarness, type JobHarness } from '../../test/fakes/job-harness';

const TEN_MINUTES_AGO = () => new Date(Date.now() - 10 * 60_000);

describe('JobRecoveryService (on fakes)', () => {
  let h: JobHarness;
  beforeEach(async () => (h = await jobHarness({ SHUTDOWN_GRACE_SECONDS: '0' })));
  afterEach(async () => {
    await h.recovery.beforeApplicationShutdown();
    await h.close();
  });

  it('removes working folders left by a crash at start-up, except those of jobs running, then takes jobs', async () => {
    const running = h.queued({ status: 'running', workerId: 'another-process', heartbeatAt: new Date() });
    const left = randomUUID();
    for (const name of [running.id, left, 'not-a-job'])
      await fs.mkdir(path.join(h.config.WORK_DIR, name), { recursive: true });
    await h.recovery.onApplicationBootstrap();
    assert.deepEqual(await fs.readdir(h.config.WORK_DIR), [running.id]);
    assert.ok(h.queue.working);

    const job = h.queued();
    assert.equal(await h.queue.deliver(job.id), 'completed');
    assert.equal(h.records.get(job.id).status, 'completed');
  });

  it('hands a job that outlives the grace period back at shutdown, with one more attempt, and never completes it', async () => {
    await h.recovery.onApplicationBootstrap();
    const job = h.queued({ maxAttempts: 1 });
    let release!: () => void;
    h.trainer.hold = new Promise((resolve) => (release = resolve));
    let delivered: string | undefined;
    const delivery = h.queue.deliver(job.id).then((state) => (delivered = state));
    while (h.trainer.trainings === 0) await sleep(5);

    await h.recovery.beforeApplicationShutdown();
    const record = h.records.get(job.id);
    assert.equal(record.status, 'queued');
    assert.equal(record.workerId, null);
    assert.equal(record.error, 'the attempt was interrupted by a shutdown; handed back to the queue');
    assert.equal(record.maxAttempts, 2, 'a shutdown never uses up the last attempt');
    assert.deepEqual(
      h.queue.calls.slice(-3),
      ['stop', `revive ${job.id}`, 'close'],
      'revived while the queue was open',
    );

    release();
    await delivery;
    assert.equal(
      delivered,
      'completed',
      'the handler returns once the queue is closed (pg-boss failed the entry then)',
    );
    assert.equal(h.backend.uploads.length, 0, 'the handed-back attempt uploads nothing');
    assert.equal(h.records.get(job.id).status, 'queued', 'the record stays the next attempt’s');

    const late = h.queued({ channelId: 'c2' });
    assert.equal(await h.queue.deliver(late.id), 'retry', 'a job handed over while stopping is not started');
    assert.equal(h.records.get(late.id).status, 'queued');
  });

  it('hands back jobs whose process stopped reporting, and fails for good those out of attempts', async () => {
    const retried = h.queued({ status: 'running', attempt: 1, workerId: 'dead', heartbeatAt: TEN_MINUTES_AGO() });
    const spent = h.queued({
      channelId: 'c2',
      status: 'running',
      attempt: 3,
      workerId: 'dead',
      heartbeatAt: TEN_MINUTES_AGO(),
    });
    const alive = h.queued({ channelId: 'c3', status: 'running', workerId: 'alive', heartbeatAt: new Date() });
    h.queue.failAttemptAnswers.set(spent.id, 'failed');

    await h.recovery.handBackStaleJobs();
    assert.equal(h.records.get(retried.id).status, 'queued');
    assert.equal(h.records.get(retried.id).error, 'attempt 1 stopped: its process stopped reporting; retrying');
    assert.equal(h.records.get(spent.id).status, 'failed');
    assert.equal(h.records.get(spent.id).error, 'all 3 attempts were interrupted');
    assert.equal(h.records.get(alive.id).status, 'running');
    assert.deepEqual(h.backend.statuses, [
      { channelId: 'c2', status: 'failed', progress: null, error: 'all 3 attempts were interrupted' },
    ]);
    assert.ok(h.listener.calls.includes('failed c2 all 3 attempts were interrupted'));
  });

  it('revives stranded jobs in the queue: one more attempt for an ended entry, a new entry for a missing one', async () => {
    const ended = h.queued();
    const missing = h.queued({ channelId: 'c2' });
    const waiting = h.queued({ channelId: 'c3' });
    h.queue.entries.set(ended.id, { state: 'failed', attempts: 3, limit: 2 });
    h.queue.entries.set(waiting.id, { state: 'created', attempts: 0, limit: 2 });
    h.queue.stranded = [ended, missing, waiting].map(({ id, channelId }) => ({ id, channelId }));

    await h.recovery.reviveStrandedJobs();
    assert.equal(h.queue.entries.get(ended.id)?.state, 'retry');
    assert.equal(h.records.get(ended.id).maxAttempts, 4, 'the record allows the attempt the queue added');
    assert.equal(h.queue.entries.get(missing.id)?.state, 'created');
    assert.equal(h.records.get(missing.id).maxAttempts, 3);
    assert.equal(h.records.get(waiting.id).maxAttempts, 3);
  });
});
