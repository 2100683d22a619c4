/** A JobProcessor (and what surrounds it) built on fakes: no database, no network, no TensorFlow. */
import { randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { Logger } from '@nestjs/common';
import type { BackendClient } from '../../src/backend/backend-client.service';
import { TokenSeal } from '../../src/auth/token-seal';
import { loadConfig, type AppConfig } from '../../src/config/app-config';
import type { DatasetService } from '../../src/dataset/dataset.service';
import { JobEvents, type JobEvent, type JobLifecycleListener } from '../../src/jobs/job-events';
import type { JobQueueRepository } from '../../src/jobs/job-queue.repository';
import type { JobRecordsRepository } from '../../src/jobs/job-records.repository';
import { JobRecoveryService } from '../../src/jobs/job-recovery.service';
import { JobProcessor } from '../../src/jobs/job.processor';
import type { TrainingJob } from '../../src/jobs/training-job.entity';
import { MetricsService } from '../../src/metrics/metrics.service';
import type { ExportService } from '../../src/export/export.service';
import type { TrainerService } from '../../src/training/trainer.service';
import { tempDir } from '../support/fixtures';
import { FakeBackendClient } from './fake-backend-client';
import { FakeJobQueue } from './fake-job-queue';
import { FakeJobRecords } from './fake-job-records';
import { FakeDatasets, FakeTrainer } from './fake-pipeline';

export const SERVICE_TOKEN = 'service-token-of-the-tests';
export const BACKEND_TOKEN = 'backend-token-of-one-job';

/** Every listener call, as "started c1", "progress c1 15", "failed c1 <error>"… */
export class RecordingListener implements JobLifecycleListener {
  readonly calls: string[] = [];
  async started(job: JobEvent) {
    this.calls.push(`started ${job.channelId}`);
  }
  async progress(job: JobEvent, progress: number) {
    this.calls.push(`progress ${job.channelId} ${progress}`);
  }
  async succeeded(job: JobEvent) {
    this.calls.push(`succeeded ${job.channelId}`);
  }
  async failed(job: JobEvent, error: string) {
    this.calls.push(`failed ${job.channelId} ${error}`);
  }
}

export interface JobHarness {
  config: AppConfig;
  records: FakeJobRecords;
  queue: FakeJobQueue;
  backend: FakeBackendClient;
  datasets: FakeDatasets;
  trainer: FakeTrainer;
  listener: RecordingListener;
  processor: JobProcessor;
  recovery: JobRecoveryService;
  /** A queued record with a sealed backend token (BACKEND_TOKEN, or `token`), as the intake writes it. */
  queued(fields?: Partial<TrainingJob>, token?: string): TrainingJob;
  /** Removes the working folder. */
  close(): Promise<void>;
}

export async function jobHarness(env: Record<string, string> = {}): Promise<JobHarness> {
  Logger.overrideLogger(false);
  const workDir = await tempDir('jobs-spec');
  const config = loadConfig({
    WORK_DIR: path.join(workDir, 'work'),
    MODEL_CACHE_DIR: path.join(workDir, 'models'),
    ML_SERVICE_TOKEN: SERVICE_TOKEN,
    LOG_LEVEL: 'silent',
    ...env,
  });
  const records = new FakeJobRecords();
  const queue = new FakeJobQueue(config.JOB_MAX_ATTEMPTS - 1);
  const backend = new FakeBackendClient();
  const datasets = new FakeDatasets();
  const trainer = new FakeTrainer();
  const events = new JobEvents();
  const listener = new RecordingListener();
  events.subscribe(listener);
  const seal = new TokenSeal(SERVICE_TOKEN);
  const processor = new JobProcessor(
    config,
    records as unknown as JobRecordsRepository,
    backend as unknown as BackendClient,
    datasets as unknown as DatasetService,
    trainer as unknown as TrainerService,
    trainer as unknown as ExportService,
    events,
    new MetricsService(),
    seal,
  );
  const recovery = new JobRecoveryService(
    config,
    records as unknown as JobRecordsRepository,
    queue as unknown as JobQueueRepository,
    processor,
  );
  return {
    config,
    records,
    queue,
    backend,
    datasets,
    trainer,
    listener,
    processor,
    recovery,
    queued: (fields = {}, token = BACKEND_TOKEN) =>
      records.add({
        id: randomUUID(),
        sealedAuthToken: seal.seal(token),
        maxAttempts: config.JOB_MAX_ATTEMPTS,
        ...fields,
      }),
    close: () => fs.rm(workDir, { recursive: true, force: true }),
  };
}
