/** The training queue: every use of pg-boss, and the one query that reads its tables. */
import { Injectable, Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import PgBoss from 'pg-boss';
import type { EntityManager } from 'typeorm';
import type { JobRef } from './job-records.repository';
import { AppConfig } from '../config/app-config';
import { DatabaseServer } from '../database/database-server';

export const TRAINING_QUEUE = 'training';
/** A backstop only: stuck jobs are normally noticed through their heartbeat within JOB_STALE_SECONDS. */
const JOB_EXPIRE_SECONDS = 6 * 60 * 60;

export type QueuedJobHandler = (jobId: string, attempt: number) => Promise<void>;

/**
 * The durable queue of training jobs, on pg-boss in the same Postgres: all pg-boss use is here, the SQL that reads
 * its tables included. pg-boss hands every job to exactly one
 * worker (SELECT … FOR UPDATE SKIP LOCKED), retries failed attempts with backoff, and keeps jobs across restarts.
 */
@Injectable()
export class JobQueueRepository implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(JobQueueRepository.name);
  private readonly boss: PgBoss;
  private started = false;

  constructor(
    private readonly config: AppConfig,
    database: DatabaseServer,
  ) {
    this.boss = new PgBoss({
      connectionString: database.url,
      schema: 'pgboss',
      application_name: 'ml-trainer-queue',
      max: 4,
    });
    this.boss.on('error', (err) => this.logger.error(`queue error: ${err.message}`));
  }

  async onModuleInit(): Promise<void> {
    await this.boss.start();
    const options = {
      name: TRAINING_QUEUE,
      policy: 'standard' as const,
      retryLimit: this.config.JOB_MAX_ATTEMPTS - 1,
      retryDelay: this.config.JOB_RETRY_DELAY_SECONDS,
      retryBackoff: true,
      expireInSeconds: JOB_EXPIRE_SECONDS,
    };
    if (await this.boss.getQueue(TRAINING_QUEUE)) await this.boss.updateQueue(TRAINING_QUEUE, options);
    else await this.boss.createQueue(TRAINING_QUEUE, options);
    this.started = true;
  }

  /** Last, in case nothing stopped the queue before (see stop). */
  async onApplicationShutdown(): Promise<void> {
    await this.stop();
  }

  /**
   * Stops the queue: attempts still held by this process's workers end as failed, once, so pg-boss retries them.
   * `beforeClose` runs while the queue's connections are still open (to revive the jobs handed back).
   */
  async stop(beforeClose: () => Promise<void> = async () => undefined): Promise<void> {
    if (!this.started) return;
    this.started = false;
    await this.boss.stop({ graceful: false, close: false, wait: true });
    await beforeClose();
    await (this.boss.getDb() as unknown as { close(): Promise<void> }).close();
  }

  /**
   * Makes sure a job whose record says `queued` will be run: an entry that pg-boss will still hand out is left
   * alone; one that ended without running the job (failed, completed, cancelled, gone) or is held by a process
   * that is gone (`active` while the record waits) is revived. `raised` means its attempt limit went up by one.
   */
  async revive(jobId: string): Promise<'waiting' | 'raised' | 'renewed'> {
    const state = (await this.boss.getJobById(TRAINING_QUEUE, jobId))?.state;
    if (state === 'created' || state === 'retry') return 'waiting';
    if (state === 'active' && (await this.failAttempt(jobId, 'its holder is gone')) !== 'failed') return 'waiting';
    if (state === 'active' || state === 'failed') {
      await this.boss.retry(TRAINING_QUEUE, jobId);
      return 'raised';
    }
    await this.boss.deleteJob(TRAINING_QUEUE, jobId);
    await this.boss.send(TRAINING_QUEUE, {}, { id: jobId });
    return 'renewed';
  }

  /** Queues a job inside the caller's transaction, so the job record and the queue entry exist together or not at all. */
  async send(jobId: string, manager: EntityManager): Promise<void> {
    await this.boss.send(
      TRAINING_QUEUE,
      {},
      {
        id: jobId,
        db: {
          executeSql: async (text: string, values: unknown[]) => {
            const rows = (await manager.query(text, values)) as unknown[];
            return { rows, rowCount: rows.length };
          },
        },
      },
    );
  }

  /** Runs up to `concurrency` jobs at once, oldest first; a handler that throws has its attempt retried. */
  async work(concurrency: number, handler: QueuedJobHandler): Promise<void> {
    for (let i = 0; i < concurrency; i++) {
      await this.boss.work(
        TRAINING_QUEUE,
        { batchSize: 1, includeMetadata: true, pollingIntervalSeconds: this.config.QUEUE_POLL_SECONDS },
        async ([job]) => handler(job.id, job.retryCount + 1),
      );
    }
  }

  /** Stops taking new jobs; jobs already running go on. */
  async stopWorking(): Promise<void> {
    if (this.started) await this.boss.offWork(TRAINING_QUEUE);
  }

  /** Ends an attempt as failed: pg-boss retries it after the backoff, or fails it for good after the last attempt. */
  async failAttempt(jobId: string, reason: string): Promise<'retry' | 'failed' | 'unknown'> {
    await this.boss.fail(TRAINING_QUEUE, jobId, { reason });
    const job = await this.boss.getJobById(TRAINING_QUEUE, jobId);
    if (job?.state === 'retry' || job?.state === 'created') return 'retry';
    if (job?.state === 'failed') return 'failed';
    return 'unknown';
  }

  /**
   * Jobs whose record has waited in `queued` for `staleSeconds` while their queue entry will never hand them out (it
   * ended, or there is none): what an interrupted hand-back can leave behind. Reads pg-boss 10's job table.
   */
  async strandedJobs(staleSeconds: number): Promise<JobRef[]> {
    return (
      await this.boss.getDb().executeSql(
        `SELECT t.id, t.channel_id AS "channelId" FROM training_job t
        LEFT JOIN pgboss.job q ON q.name = $2 AND q.id = t.id
        WHERE t.status = 'queued' AND t.updated_at < now() - make_interval(secs => $1)
          AND (q.id IS NULL OR q.state NOT IN ('created', 'retry'))
        LIMIT 100`,
        [staleSeconds, TRAINING_QUEUE],
      )
    ).rows as JobRef[];
  }

  /** For /health: the queue's tables answer. */
  async check(): Promise<void> {
    if (!this.started) throw new Error('the queue is not started');
    await this.boss.getQueueSize(TRAINING_QUEUE);
  }
}
