/** Medium tier: the queue (pg-boss) and the SQL that reads its tables, on a real Postgres, without TensorFlow. */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { newJob, openJobTables, type JobTables } from '../../test/support/job-tables';

describe('JobQueueRepository on Postgres', () => {
  let t: JobTables;
  before(async () => (t = await openJobTables()));
  after(() => t.close());

  const entryState = async (jobId: string) =>
    (
      (await t.db.query(`SELECT state FROM pgboss.job WHERE name = 'training' AND id = $1`, [jobId])) as {
        state: string;
      }[]
    )[0]?.state;
  /** A queued record that has waited `seconds`, with the queue entry `withEntry` made of it. */
  const waitingJob = async (seconds: number, withEntry: boolean) => {
    const job = newJob();
    await t.records.create(job, async (manager) => {
      if (withEntry) await t.queue.send(job.id, manager);
    });
    await t.db.query(`UPDATE training_job SET updated_at = now() - make_interval(secs => $2) WHERE id = $1`, [
      job.id,
      seconds,
    ]);
    return job;
  };

  it('queues a job in the caller’s transaction: no entry when the record is rolled back', async () => {
    const job = newJob();
    await assert.rejects(
      t.records.create(job, async (manager) => {
        await t.queue.send(job.id, manager);
        throw new Error('rolled back');
      }),
    );
    assert.equal(await entryState(job.id), undefined);
    await t.records.create(job, (manager) => t.queue.send(job.id, manager));
    assert.equal(await entryState(job.id), 'created');
    await t.queue.check();
  });

  it('finds queued records that waited past the stale time with no entry that will hand them out', async () => {
    const noEntry = await waitingJob(600, false);
    const waitingEntry = await waitingJob(600, true);
    const recent = await waitingJob(0, false);
    const endedEntry = await waitingJob(600, true);
    await t.db.query(`UPDATE pgboss.job SET state = 'completed' WHERE id = $1`, [endedEntry.id]);

    const stranded = (await t.queue.strandedJobs(60)).map((j) => j.id);
    assert.ok(stranded.includes(noEntry.id), 'no entry');
    assert.ok(stranded.includes(endedEntry.id), 'its entry ended');
    assert.ok(!stranded.includes(waitingEntry.id), 'its entry will hand it out');
    assert.ok(!stranded.includes(recent.id), 'not waited long enough');
    assert.equal((await t.queue.strandedJobs(60)).find((j) => j.id === noEntry.id)?.channelId, noEntry.channelId);
  });

  it('revives a job: a new entry for a missing one, one more attempt for a failed one, nothing for a waiting one', async () => {
    const missing = await waitingJob(0, false);
    assert.equal(await t.queue.revive(missing.id), 'renewed');
    assert.equal(await entryState(missing.id), 'created');
    assert.equal(await t.queue.revive(missing.id), 'waiting');

    const failed = await waitingJob(0, true);
    // Its last attempt (retry_count = retryLimit) failed.
    await t.db.query(`UPDATE pgboss.job SET state = 'failed', retry_count = 2 WHERE id = $1`, [failed.id]);
    assert.equal(await t.queue.revive(failed.id), 'raised');
    assert.equal(await entryState(failed.id), 'retry');
    const [{ limit }] = (await t.db.query('SELECT retry_limit AS limit FROM pgboss.job WHERE id = $1', [
      failed.id,
    ])) as {
      limit: number;
    }[];
    assert.equal(limit, 3, 'one more attempt than JOB_MAX_ATTEMPTS allowed');
    assert.deepEqual(await t.queue.strandedJobs(0).then((jobs) => jobs.some((j) => j.id === failed.id)), false);

    // What revival is for: the queue hands both to a worker again, the failed one as its next attempt.
    const handed = new Map<string, number>();
    await t.queue.work(1, async (jobId, attempt) => void handed.set(jobId, attempt));
    const deadline = Date.now() + 15_000;
    while (!(handed.has(missing.id) && handed.has(failed.id)) && Date.now() < deadline) await sleep(100);
    assert.equal(handed.get(missing.id), 1);
    assert.equal(handed.get(failed.id), 3, 'its interrupted last attempt again, under the raised limit');
    await t.queue.stopWorking();
  });
});
