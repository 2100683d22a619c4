/** Job intake on fakes: a record and its queue entry together, one active job per channel, the token sealed. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Logger } from '@nestjs/common';
import { TokenSeal } from '../auth/token-seal';
import { loadConfig } from '../config/app-config';
import { FakeJobQueue } from '../../test/fakes/fake-job-queue';
import { FakeJobRecords } from '../../test/fakes/fake-job-records';
import { SERVICE_TOKEN } from '../../test/fakes/job-harness';
import type { JobQueueRepository } from './job-queue.repository';
import type { JobRecordsRepository } from './job-records.repository';
import { ChannelBusyError, JobsService, QueueFullError } from './jobs.service';

Logger.overrideLogger(false);

describe('JobsService (intake, on fakes)', () => {
  const request = {
    channelId: 'c1',
    manifestUrl: 'http://127.0.0.1:3000/admin-api?query=query{mlTrainingManifest(channelId:"c1"){channelId}}',
    webhookUrl: 'http://127.0.0.1:3000/admin-api',
    authToken: 'the-backend-token',
  };
  const setup = (env: Record<string, string> = {}) => {
    const records = new FakeJobRecords();
    const queue = new FakeJobQueue();
    const config = loadConfig({ ML_SERVICE_TOKEN: SERVICE_TOKEN, JOB_MAX_ATTEMPTS: '4', LOG_LEVEL: 'silent', ...env });
    const jobs = new JobsService(
      records as unknown as JobRecordsRepository,
      queue as unknown as JobQueueRepository,
      new TokenSeal(SERVICE_TOKEN),
      config,
    );
    return { records, queue, jobs };
  };

  it('writes a queued record and its queue entry, with the token sealed', async () => {
    const { records, queue, jobs } = setup();
    const { jobId } = await jobs.startTraining(request);
    const record = records.get(jobId);
    assert.equal(record.status, 'queued');
    assert.equal(record.maxAttempts, 4);
    assert.equal(record.inputRange, null);
    assert.equal(record.unknownShare, null);
    assert.deepEqual(queue.calls, [`send ${jobId}`]);
    assert.ok(!record.sealedAuthToken.includes(request.authToken));
    assert.equal(new TokenSeal(SERVICE_TOKEN).open(record.sealedAuthToken), request.authToken);
    assert.equal((await jobs.activeJob('c1'))?.id, jobId);
    assert.equal((await jobs.latestJob('c1'))?.id, jobId);
  });

  it('refuses a second active job for a channel, naming the one it has', async () => {
    const { queue, jobs } = setup();
    const { jobId } = await jobs.startTraining(request);
    await assert.rejects(jobs.startTraining(request), (err) => {
      assert.ok(err instanceof ChannelBusyError);
      assert.equal(err.jobId, jobId);
      return true;
    });
    assert.equal(queue.calls.length, 1, 'no second queue entry');
    await jobs.startTraining({ ...request, channelId: 'c2' });
  });

  it('refuses a job past MAX_QUEUED_JOBS queued ones, writing nothing', async () => {
    const { records, queue, jobs } = setup({ MAX_QUEUED_JOBS: '2' });
    await jobs.startTraining({ ...request, channelId: 'a' });
    await jobs.startTraining({ ...request, channelId: 'b' });
    await assert.rejects(
      jobs.startTraining({ ...request, channelId: 'c' }),
      (err) =>
        err instanceof QueueFullError &&
        err.message === '2 training jobs are queued (MAX_QUEUED_JOBS); try again later',
    );
    assert.equal(records.jobs.size, 2);
    assert.equal(queue.entries.size, 2);
  });
});
