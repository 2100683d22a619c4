/** Medium tier: the job records' SQL on a real Postgres (the service's migrations), without Nest or TensorFlow. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { newJob, openJobTables, type JobTables } from '../../test/support/job-tables';
import { EMBEDDING_SIZE } from '../config/model-shape';
import type { TrainedJobModel } from './trained-model.entity';
import type { Repository } from 'typeorm';
import type { JobReport } from './job-report.entity';
import type { JobOutcome, TrainingJob } from './training-job.entity';

const OUTCOME: JobOutcome = {
  result: {
    trainingId: 't1',
    products: 2,
    images: 10,
    skippedImages: 0,
    droppedProducts: [],
    validationAccuracy: 1,
    recognition: { threshold: 0.9 } as JobOutcome['result']['recognition'],
    backend: 'wasm',
    warnings: [],
  },
  timings: { embedding: 1.5 },
  skips: [],
  report: '<!doctype html><title>t1</title>',
};
const MODEL: TrainedJobModel = {
  files: {
    modelJson: Buffer.from('{"m":1}'),
    weightsFile: new Uint8Array([0, 1, 2, 255]),
    metadata: Buffer.from('{"labels":[]}'),
  },
  outcome: OUTCOME,
};

describe('JobRecordsRepository on Postgres', () => {
  let t: JobTables;
  before(async () => (t = await openJobTables()));
  after(() => t.close());

  /** A created job, claimed by `worker`. */
  const running = async (worker = 'w1', channelId?: string) => {
    const job = newJob(channelId ? { channelId } : {});
    await t.records.create(job, async () => undefined);
    assert.ok(await t.records.claim(job.id, 1, worker));
    return job;
  };
  /** `count` jobs of the channel completed one after the other, the i-th with `outcome(i)`; their ids. */
  const completedJobs = async (channelId: string, count: number, outcome: (i: number) => JobOutcome) => {
    const ids: string[] = [];
    for (let i = 0; i < count; i++) {
      const job = newJob({ channelId });
      await t.records.create(job, async () => undefined);
      assert.ok(await t.records.claim(job.id, 1, 'w1'));
      assert.ok(await t.records.complete(job.id, 'w1', outcome(i)));
      ids.push(job.id);
    }
    return ids;
  };
  const ageHeartbeat = (jobId: string, seconds: number) =>
    t.db.query(`UPDATE training_job SET heartbeat_at = now() - make_interval(secs => $2) WHERE id = $1`, [
      jobId,
      seconds,
    ]);

  it('creates a record together with what runs alongside, or not at all', async () => {
    const job = newJob();
    await assert.rejects(
      t.records.create(job, async (manager) => {
        await manager.query('SELECT 1');
        throw new Error('the queue refused');
      }),
      /the queue refused/,
    );
    assert.equal(await t.records.find(job.id), null, 'rolled back with its companion');
    assert.equal(await t.records.create(job, async () => undefined), 'created');
    const record = await t.records.find(job.id);
    assert.equal(record?.status, 'queued');
    assert.deepEqual([record?.timings, record?.skipped], [{}, []]);
  });

  it('allows one queued or running job per channel (the partial unique index), and another once it ends', async () => {
    const first = newJob({ channelId: 'busy' });
    await t.records.create(first, async () => undefined);
    assert.equal(await t.records.create(newJob({ channelId: 'busy' }), async () => undefined), 'channel-busy');
    assert.equal((await t.records.findActive('busy'))?.id, first.id);
    await t.records.claim(first.id, 1, 'w1');
    assert.ok(await t.records.fail(first.id, 'w1', 'broken'));
    const second = newJob({ channelId: 'busy' });
    assert.equal(await t.records.create(second, async () => undefined), 'created');
    assert.equal((await t.records.findLatest('busy'))?.id, second.id);
    assert.deepEqual(
      (await t.records.list({ channelId: 'busy', limit: 10 })).map((j) => j.id),
      [second.id, first.id],
      'newest first',
    );
    assert.deepEqual(
      (await t.records.list({ channelId: 'busy', status: 'failed', limit: 10 })).map((j) => j.id),
      [first.id],
    );
  });

  it('bounds the queued jobs in one step: 100 intakes at once past a bound of 3 create exactly 3', async () => {
    const before = (await t.records.countByStatus()).queued ?? 0;
    const outcomes = await Promise.all(
      Array.from({ length: 100 }, () => t.records.create(newJob(), async () => undefined, before + 3)),
    );
    const created = outcomes.filter((o) => o === 'created').length;
    assert.equal(created, 3, `${created} created`);
    assert.equal(outcomes.filter((o) => o === 'queue-full').length, 97);
    assert.equal((await t.records.countByStatus()).queued, before + 3);
  });

  it('claims a queued job once, with the database clock for its heartbeat', async () => {
    const job = newJob();
    await t.records.create(job, async () => undefined);
    const claimed = await t.records.claim(job.id, 2, 'w1');
    assert.equal(claimed?.status, 'running');
    assert.equal(claimed?.attempt, 2);
    assert.equal(claimed?.workerId, 'w1');
    assert.equal(claimed?.stage, 'downloading');
    const [{ drift }] = (await t.db.query(
      `SELECT abs(extract(epoch FROM now() - heartbeat_at)) AS drift FROM training_job WHERE id = $1`,
      [job.id],
    )) as { drift: number }[];
    assert.ok(Number(drift) < 5, `heartbeat ${drift} s from the database's now()`);
    assert.equal(await t.records.claim(job.id, 3, 'w2'), null, 'not claimed twice');
    assert.ok(await t.records.isRunningIn(job.id, 'w1'));
    assert.ok(!(await t.records.isRunningIn(job.id, 'w2')));
    assert.ok(await t.records.isRunning(job.id));
  });

  it('changes a running job only for the worker that holds it', async () => {
    const job = await running('w1');
    assert.ok(!(await t.records.requeue(job.id, 'w2', 'x')));
    assert.ok(!(await t.records.complete(job.id, 'w2', OUTCOME)));
    assert.ok(!(await t.records.fail(job.id, 'w2', 'x')));
    assert.ok(!(await t.records.fail(job.id, null, 'x')), 'a running job is not failed as if queued');
    assert.ok(!(await t.records.keepModel(job.id, 'w2', MODEL)));
    await t.records.writeProgress(job.id, 'w2', 'training', 80);
    assert.equal((await t.records.find(job.id))?.progress, 0);

    await t.records.writeProgress(job.id, 'w1', 'training', 80);
    assert.equal((await t.records.find(job.id))?.progress, 80);
    assert.ok(await t.records.requeue(job.id, 'w1', 'attempt 1 failed: x; retrying'));
    const requeued = await t.records.find(job.id);
    assert.deepEqual(
      [requeued?.status, requeued?.workerId, requeued?.error],
      ['queued', null, 'attempt 1 failed: x; retrying'],
    );
    assert.ok(await t.records.fail(job.id, null, 'all 3 attempts were interrupted'), 'a queued job can be failed');
  });

  it('keeps a model byte for byte until the job ends, and ending removes it in the same transaction', async () => {
    const job = await running('w1');
    assert.ok(await t.records.keepModel(job.id, 'w1', MODEL));
    assert.ok(await t.records.keepModel(job.id, 'w1', MODEL), 'kept again: replaced, not duplicated');
    const kept = await t.records.keptModel(job.id);
    assert.deepEqual([...kept!.files.weightsFile], [0, 1, 2, 255]);
    assert.equal(Buffer.from(kept!.files.modelJson).toString(), '{"m":1}');
    assert.deepEqual(kept!.outcome, OUTCOME);
    assert.ok(await t.records.hasKeptModel(job.id));

    assert.ok(await t.records.complete(job.id, 'w1', OUTCOME));
    assert.ok(!(await t.records.hasKeptModel(job.id)));
    const record = await t.records.find(job.id);
    assert.deepEqual([record?.status, record?.progress, record?.workerId], ['completed', 100, null]);
    assert.deepEqual(record?.result, OUTCOME.result);
    assert.ok(record?.finishedAt);
  });

  it("keeps a completed job's report, and a channel's last five only; a failed job has none", async () => {
    const jobs = await completedJobs('channel-reports', 7, (i) => ({ ...OUTCOME, report: `<p>report ${i}</p>` }));
    const kept = await Promise.all(jobs.map((id) => t.records.report(id)));
    assert.deepEqual(kept, [null, null, ...[2, 3, 4, 5, 6].map((i) => `<p>report ${i}</p>`)]);
    const other = await running('w1');
    assert.ok(await t.records.complete(other.id, 'w1', OUTCOME));
    assert.equal(await t.records.report(other.id), OUTCOME.report, "another channel's reports are its own");
    assert.equal(await t.records.report(jobs[6]), '<p>report 6</p>');
    const failed = await running('w1');
    assert.ok(await t.records.fail(failed.id, 'w1', 'x'));
    assert.equal(await t.records.report(failed.id), null);
  });

  it('reads reports and lists in turn, two at a time, one read for readers of one report at once', async () => {
    const channelId = 'channel-large-reads';
    const jobs = await completedJobs(channelId, 5, (i) => ({
      ...OUTCOME,
      skips: [{ product: 'p', photo: `photo-${i}`, reason: 'not an image' }],
      report: `<p>large ${i}</p>`,
    }));
    // Counts the reads that reach the database: the records' own TypeORM repositories, wrapped.
    const counts = { calls: 0, inFlight: 0, most: 0 };
    const counted = <R extends object>(repository: R, method: keyof R) => {
      const original = repository[method] as (...args: unknown[]) => Promise<unknown>;
      repository[method] = (async (...args: unknown[]) => {
        counts.calls++;
        counts.most = Math.max(counts.most, ++counts.inFlight);
        try {
          return await original.apply(repository, args);
        } finally {
          counts.inFlight--;
        }
      }) as R[keyof R];
      return () => (repository[method] = original as R[keyof R]);
    };
    const internals = t.records as unknown as { reports: Repository<JobReport>; jobs: Repository<TrainingJob> };
    const restore = [counted(internals.reports, 'findOneBy'), counted(internals.jobs, 'find')];
    try {
      const same = await Promise.all(Array.from({ length: 50 }, () => t.records.report(jobs[0])));
      assert.deepEqual(new Set(same), new Set(['<p>large 0</p>']));
      assert.equal(counts.calls, 1, '50 readers of one report at once: one read');
      const mixed = await Promise.all([
        ...Array.from({ length: 40 }, (_, i) =>
          t.records.report(jobs[i % 5]).then((html) => html === `<p>large ${i % 5}</p>`),
        ),
        ...Array.from({ length: 10 }, () =>
          t.records.list({ channelId, limit: 100 }).then((list) => list.length === 5),
        ),
      ]);
      assert.ok(mixed.every(Boolean));
      assert.equal(counts.most, 2, `at most two large reads at a time: ${JSON.stringify(counts)}`);
    } finally {
      restore.forEach((undo) => undo());
    }
    const [listed] = await t.records.list({ channelId, limit: 1 });
    assert.equal(listed.id, jobs[4]);
    assert.equal((listed as Partial<TrainingJob>).skipped, undefined, 'a list leaves the photos left out to each job');
    assert.deepEqual((await t.records.find(jobs[4]))?.skipped.length, 1);
  });

  it("keeps the head of a channel's last accepted model, replaced by the next one, and none for a failed job", async () => {
    const head = (value: number, k: number) => ({
      trainingId: `t-${value}`,
      trainedAt: new Date(Date.UTC(2026, 11, value)),
      labels: Array.from({ length: k }, (_, c) => `p${c}`),
      head: {
        hiddenUnits: 2 * k,
        classCount: k,
        hiddenKernel: new Float32Array(EMBEDDING_SIZE * 2 * k).fill(value),
        hiddenBias: new Float32Array(2 * k).fill(-value),
        outputKernel: new Float32Array(2 * k * k).fill(value / 2),
      },
    });
    const first = await running();
    assert.equal(await t.records.lastModel(first.channelId), null);
    assert.ok(await t.records.complete(first.id, 'w1', OUTCOME, head(1, 3)));
    assert.deepEqual(await t.records.lastModel(first.channelId), head(1, 3));
    const second = await running('w1', first.channelId);
    assert.ok(await t.records.complete(second.id, 'w1', OUTCOME, head(2, 4)));
    assert.deepEqual(await t.records.lastModel(first.channelId), head(2, 4), 'the newest accepted model');
    const failed = await running();
    assert.ok(await t.records.fail(failed.id, 'w1', 'no'));
    assert.equal(await t.records.lastModel(failed.channelId), null);
  });

  it('hands back running jobs with an old heartbeat, except this worker’s live ones, and renews heartbeats', async () => {
    const dead = await running('dead');
    const mineLive = await running('me');
    const mineLost = await running('me');
    const fresh = await running('other');
    for (const job of [dead, mineLive, mineLost]) await ageHeartbeat(job.id, 600);

    const handedBack = await t.records.handBackStale(60, 'me', [mineLive.id]);
    assert.deepEqual(handedBack.map((j) => j.id).sort(), [dead.id, mineLost.id].sort());
    assert.equal(handedBack.find((j) => j.id === dead.id)?.channelId, dead.channelId);
    const record = await t.records.find(dead.id);
    assert.deepEqual(
      [record?.status, record?.workerId, record?.error],
      ['queued', null, 'attempt 1 stopped: its process stopped reporting; retrying'],
    );
    assert.equal((await t.records.find(fresh.id))?.status, 'running');
    assert.equal((await t.records.find(mineLive.id))?.status, 'running');

    await t.records.beat([mineLive.id, fresh.id], 'me');
    assert.deepEqual(await t.records.handBackStale(60, 'me', []), [], 'its heartbeat was renewed');
    await ageHeartbeat(fresh.id, 600);
    await t.records.beat([fresh.id], 'me');
    assert.equal((await t.records.handBackStale(60, 'me', [])).length, 1, 'another worker’s job is not renewed');
  });

  it('counts jobs by status and raises the attempt limit', async () => {
    const counts = await t.records.countByStatus();
    assert.ok(counts.queued >= 1 && counts.completed >= 1 && counts.failed >= 1, JSON.stringify(counts));
    const job = newJob();
    await t.records.create(job, async () => undefined);
    await t.records.addAttempt(job.id);
    assert.equal((await t.records.find(job.id))?.maxAttempts, 4);
    await t.records.writeSkips(job.id, [{ product: 'p1', photo: 'asset 1', reason: 'download failed: HTTP 404' }]);
    assert.equal((await t.records.find(job.id))?.skipped[0].reason, 'download failed: HTTP 404');
  });

  it('runs without TensorFlow', () => {
    const loaded = Object.keys(require.cache).filter((file) => /[\\/]@tensorflow[\\/]|onnxruntime/.test(file));
    assert.deepEqual(loaded, []);
  });
});
