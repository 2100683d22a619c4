/**
 * The medium tier's database: the service's real tables (its migrations) and queue on the test Postgres, reached
 * through the real repositories, without Nest or TensorFlow.
 */
import { DataSource } from 'typeorm';
import { loadConfig } from '../../src/config/app-config';
import { dataSourceOptions } from '../../src/database/database.module';
import type { DatabaseServer } from '../../src/database/database-server';
import { JobQueueRepository } from '../../src/jobs/job-queue.repository';
import { JobRecordsRepository, type NewJob } from '../../src/jobs/job-records.repository';
import { JOB_ENTITIES } from '../../src/jobs/job-entities';
import { ChannelModel } from '../../src/jobs/channel-model.entity';
import { JobReport } from '../../src/jobs/job-report.entity';
import { TrainedModel } from '../../src/jobs/trained-model.entity';
import { TrainingJob } from '../../src/jobs/training-job.entity';
import { resetDatabase, TEST_DATABASE_URL } from './test-database';

export interface JobTables {
  db: DataSource;
  records: JobRecordsRepository;
  queue: JobQueueRepository;
  close(): Promise<void>;
}

/** Empty tables, migrated as at start-up, and a started queue. */
export async function openJobTables(): Promise<JobTables> {
  await resetDatabase();
  const db = await new DataSource(dataSourceOptions(TEST_DATABASE_URL, JOB_ENTITIES)).initialize();
  const records = new JobRecordsRepository(
    db.getRepository(TrainingJob),
    db.getRepository(TrainedModel),
    db.getRepository(JobReport),
    db.getRepository(ChannelModel),
    db,
  );
  const queue = new JobQueueRepository(
    loadConfig({ LOG_LEVEL: 'silent', QUEUE_POLL_SECONDS: '1', JOB_RETRY_DELAY_SECONDS: '0' }),
    {
      url: TEST_DATABASE_URL,
    } as DatabaseServer,
  );
  await queue.onModuleInit();
  return {
    db,
    records,
    queue,
    close: async () => {
      await queue.stop();
      await db.destroy();
    },
  };
}

let counter = 0;

/** A new job's fields, on its own channel unless told. */
export function newJob(fields: Partial<NewJob> = {}): NewJob {
  counter++;
  return {
    id: crypto.randomUUID(),
    channelId: `channel-${counter}`,
    maxAttempts: 3,
    manifestUrl: 'http://127.0.0.1:3000/admin-api?query=query{m}',
    webhookUrl: 'http://127.0.0.1:3000/admin-api',
    inputRange: null,
    unknownShare: null,
    sealedAuthToken: 'sealed',
    ...fields,
  };
}
