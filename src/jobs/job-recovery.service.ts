/** This process's share of the queue over its life: start-up clean-up, heartbeat, hand-back, revival, shutdown. */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Injectable, Logger, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import { isUUID } from 'class-validator';
import { AppConfig } from '../config/app-config';
import { assertWritableDir } from '../common/local-disk';
import { untilDatabaseAnswers } from '../database/database-errors';
import { withLogContext } from '../logging/log-context';
import { JobProcessor, type RunningAttempt } from './job.processor';
import { JobQueueRepository } from './job-queue.repository';
import { JobRecordsRepository, recordableError } from './job-records.repository';
import { jobEnded } from '../auth/secrets';

const SHUTDOWN_HAND_BACK = 'the attempt was interrupted by a shutdown; handed back to the queue';

/**
 * Takes this process's jobs from the queue and makes sure none is lost: a heartbeat marks its running attempts
 * alive; jobs of processes that stopped reporting go back to the queue; jobs whose queue entry was lost are revived;
 * at shutdown, attempts that do not finish within the grace period are handed back.
 */
@Injectable()
export class JobRecoveryService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(JobRecoveryService.name);
  /** This process's attempts by job id, from the moment the queue hands them over. */
  private readonly running = new Map<string, RunningAttempt>();
  private heartbeatTimer?: NodeJS.Timeout;
  private staleCheckTimer?: NodeJS.Timeout;
  private stopping = false;
  /** Jobs given back to the queue at shutdown: their queue entries are failed, never completed, by this process. */
  private readonly handedBack = new Set<string>();
  /** Settles once the queue's connections are closed: a handed-back job's handler may return then, to no effect. */
  private readonly queueClosed: Promise<void>;
  private markQueueClosed!: () => void;

  constructor(
    private readonly config: AppConfig,
    private readonly records: JobRecordsRepository,
    private readonly queue: JobQueueRepository,
    private readonly processor: JobProcessor,
  ) {
    this.queueClosed = new Promise((resolve) => (this.markQueueClosed = resolve));
  }

  async onApplicationBootstrap(): Promise<void> {
    await assertWritableDir(this.config.WORK_DIR, 'WORK_DIR');
    await assertWritableDir(this.config.MODEL_CACHE_DIR, 'MODEL_CACHE_DIR');
    await this.removeLeftoverWorkDirs();
    await this.handBackStaleJobs();
    await this.reviveStrandedJobs();
    const staleMs = this.config.JOB_STALE_SECONDS * 1000;
    this.heartbeatTimer = setInterval(() => void this.heartbeat(), Math.max(500, staleMs / 4));
    this.staleCheckTimer = setInterval(
      () => void this.handBackStaleJobs().then(() => this.reviveStrandedJobs()),
      Math.max(1000, staleMs / 2),
    );
    await this.queue.work(this.config.TRAINING_CONCURRENCY, (jobId, attempt) => this.process(jobId, attempt));
    this.logger.log(
      `worker ${this.processor.workerId} takes up to ${this.config.TRAINING_CONCURRENCY} job(s) at a time`,
    );
  }

  /**
   * Stops taking jobs and gives running ones SHUTDOWN_GRACE_SECONDS to finish (their heartbeat goes on meanwhile).
   * Jobs still running then go back to the queue for another process or the next start; a shutdown never uses up
   * a job's last attempt. Runs before the worker threads are closed (on application shutdown).
   */
  async beforeApplicationShutdown(): Promise<void> {
    this.stopping = true;
    clearInterval(this.staleCheckTimer);
    await this.queue.stopWorking();
    if (this.running.size) {
      const grace = this.config.SHUTDOWN_GRACE_SECONDS;
      this.logger.log(`shutting down: waiting up to ${grace} s for ${this.running.size} running job(s)`);
      await Promise.race([Promise.allSettled([...this.running.values()].map((r) => r.done)), sleep(grace * 1000)]);
      for (const [jobId, run] of this.running) {
        await this.handBackAtShutdown(jobId, run).catch((err) =>
          this.logger.error(`job ${jobId} not handed back at shutdown: ${recordableError(err)}`),
        );
      }
    }
    clearInterval(this.heartbeatTimer);
    // Handed-back jobs on their last attempt get another, so that a shutdown never ends a job.
    await this.queue.stop(async () => {
      for (const jobId of this.handedBack) await this.revive(jobId);
    });
    this.markQueueClosed();
  }

  /**
   * One attempt of a job, called by the queue: throwing fails the attempt (the queue retries it), returning
   * completes the queue entry. A job handed back at shutdown returns only once the queue is closed: the queue
   * fails its entry when it stops, and completing it instead could complete another process's run of it.
   */
  private async process(jobId: string, attempt: number): Promise<void> {
    if (this.stopping) {
      // Fetched just as the process stopped taking jobs: not started here; the queue retries it.
      this.handedBack.add(jobId);
      throw new Error('the process was stopping; the job was not started');
    }
    const run = this.processor.start(jobId, attempt);
    this.running.set(jobId, run);
    try {
      await run.done;
    } catch (err) {
      if (!this.handedBack.has(jobId)) throw err;
    } finally {
      this.running.delete(jobId);
    }
    if (this.handedBack.has(jobId)) await this.queueClosed;
  }

  /**
   * Its record says `queued` again, and its queue entry is left for the queue to fail when it stops (see process).
   * Marked handed back before the record is written, so that an attempt ending meanwhile cannot complete it.
   */
  private async handBackAtShutdown(jobId: string, run: RunningAttempt): Promise<void> {
    const job = await run.claim.catch(() => null);
    if (!job) return;
    this.handedBack.add(jobId);
    const handedBack = await untilDatabaseAnswers(
      () => this.records.requeue(jobId, this.processor.workerId, SHUTDOWN_HAND_BACK),
      (err) => this.logger.warn(`job ${jobId} hand-back waits for the database: ${recordableError(err)}`),
    );
    if (!handedBack) {
      this.handedBack.delete(jobId); // it ended (or was taken over) meanwhile
      return;
    }
    withLogContext({ jobId, channelId: job.channelId }, () =>
      this.logger.warn(`job ${jobId} handed back to the queue at shutdown`),
    );
  }

  private async heartbeat(): Promise<void> {
    await this.records
      .beat([...this.running.keys()], this.processor.workerId)
      .catch((err) => this.logger.warn(`heartbeat not written: ${recordableError(err)}`));
  }

  /**
   * Jobs whose process stopped reporting (killed, crashed, cut off) go back to the queue: pg-boss retries them
   * after the backoff, or fails them for good after the last attempt. This process's own jobs count too once they
   * no longer run here (their end could not be written, e.g. during a long database outage).
   */
  async handBackStaleJobs(): Promise<void> {
    let stale;
    try {
      stale = await this.records.handBackStale(this.config.JOB_STALE_SECONDS, this.processor.workerId, [
        ...this.running.keys(),
      ]);
    } catch (err) {
      this.logger.warn(`could not look for stale jobs: ${recordableError(err)}`);
      return;
    }
    for (const { id, channelId } of stale) {
      await withLogContext({ jobId: id, channelId }, async () => {
        const state = await this.queue.failAttempt(id, 'its process stopped reporting');
        this.logger.warn(`job ${id} handed back to the queue (${state})`);
        const job = state === 'failed' ? await this.records.find(id) : null;
        if (job) await this.processor.fail(job, `all ${job.maxAttempts} attempts were interrupted`, null);
        jobEnded(id);
      });
    }
  }

  /** Queued jobs that the queue would never hand out are given a queue entry that will (see JobQueueRepository). */
  async reviveStrandedJobs(): Promise<void> {
    const stranded = await this.queue.strandedJobs(this.config.JOB_STALE_SECONDS).catch((err: unknown) => {
      this.logger.warn(`could not look for queued jobs without a queue entry: ${recordableError(err)}`);
      return [];
    });
    for (const { id, channelId } of stranded) await withLogContext({ jobId: id, channelId }, () => this.revive(id));
  }

  /** Makes the queue run a job whose record says `queued` (see JobQueueRepository.revive). */
  private async revive(jobId: string): Promise<void> {
    try {
      const outcome = await this.queue.revive(jobId);
      if (outcome === 'waiting') return;
      if (outcome === 'raised') await this.records.addAttempt(jobId);
      this.logger.warn(
        `job ${jobId} revived in the queue (${outcome === 'raised' ? 'one more attempt' : 'new entry'})`,
      );
    } catch (err) {
      this.logger.error(`job ${jobId} could not be revived in the queue: ${recordableError(err)}`);
    }
  }

  /** Working folders of jobs that are not running here (left by a crash) are removed at start-up. */
  private async removeLeftoverWorkDirs(): Promise<void> {
    const entries = await fs.readdir(this.config.WORK_DIR).catch(() => [] as string[]);
    for (const entry of entries) {
      if (isUUID(entry) && (await this.records.isRunning(entry))) continue;
      await fs.rm(path.join(this.config.WORK_DIR, entry), { recursive: true, force: true });
    }
  }
}
