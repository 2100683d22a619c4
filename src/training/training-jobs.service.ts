import { randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Injectable, Logger, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { DataSource, In, QueryFailedError, type FindOptionsWhere, type Repository } from 'typeorm';
import { AppConfig } from '../config/app-config';
import { MetricsService } from '../metrics/metrics.service';
import { egressPolicy } from '../common/egress';
import { assertWritableDir } from '../common/local-disk';
import { TokenSeal } from '../common/token-seal';
import { withLogContext } from '../logging/log-context';
import { isDatabaseUnreachable } from '../database/database-errors';
import { DatasetError } from '../dataset/dataset.types';
import { BackendClient, UploadError, type BackendTarget } from '../webhook/backend-client.service';
import type { TrainRequestDto } from './dto/train-request.dto';
import type { ListJobsQuery } from './dto/list-jobs.query';
import { JobQueueService } from './job-queue.service';
import { JobLostError, TrainingJobRunner, type JobOutcome, type JobReporter } from './training-job.runner';
import { TrainingJob, type JobSkip } from './training-job.entity';
import type { Stage } from './trainer.service';

/** A channel already has a queued or running job; `jobId` is that job. */
export class ChannelBusyError extends Error {
  constructor(
    readonly channelId: string,
    readonly jobId: string,
  ) {
    super(`channel ${channelId} already has a training job queued or running`);
  }
}

/** A job as lifecycle listeners see it. */
export interface JobEvent {
  jobId: string;
  channelId: string;
  createdAt: Date;
}

/**
 * Told about every job's start, progress and end, e.g. to keep channel state true. A listener that throws is
 * logged; it never affects the job.
 */
export interface JobLifecycleListener {
  started(job: JobEvent): Promise<void>;
  progress(job: JobEvent, progress: number): Promise<void>;
  succeeded(job: JobEvent): Promise<void>;
  failed(job: JobEvent, error: string): Promise<void>;
}

/** Failures that another attempt cannot fix: the job fails at once. */
function isFinal(err: unknown): boolean {
  return err instanceof DatasetError || err instanceof UploadError || err instanceof TokenUnreadableError;
}

class TokenUnreadableError extends Error {}

/** How long a write that a job needs waits for an unreachable database before it is given up. */
const DATABASE_PATIENCE_MS = 5 * 60_000;
const DATABASE_RETRY_MS = 2_000;

const SHUTDOWN_HAND_BACK = 'the attempt was interrupted by a shutdown; handed back to the queue';

/** An attempt in this process: `done` settles when it ends; `abandon` lets the queue's handler return earlier. */
interface RunningAttempt {
  done: Promise<void>;
  abandon(): void;
}

/**
 * The life of training jobs: accepting them (record + queue entry in one transaction), running them on this
 * process's share of the queue, keeping their records true, and handing back the jobs of processes that died.
 */
@Injectable()
export class TrainingJobsService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(TrainingJobsService.name);
  /** Identifies this process in job records. */
  readonly workerId = `${os.hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  private readonly seal: TokenSeal;
  /** This process's attempts by job id, from the moment the queue hands them over. */
  private readonly running = new Map<string, RunningAttempt>();
  private readonly listeners: JobLifecycleListener[] = [];
  private heartbeatTimer?: NodeJS.Timeout;
  private staleCheckTimer?: NodeJS.Timeout;
  private stopping = false;

  constructor(
    @InjectRepository(TrainingJob) private readonly jobs: Repository<TrainingJob>,
    private readonly dataSource: DataSource,
    private readonly queue: JobQueueService,
    private readonly runner: TrainingJobRunner,
    private readonly backend: BackendClient,
    private readonly config: AppConfig,
    private readonly metrics: MetricsService,
  ) {
    this.seal = new TokenSeal(config.ML_SERVICE_TOKEN);
  }

  /** The one entry point for new trainings (the HTTP API and the scheduler both come here). */
  async startTraining(request: TrainRequestDto): Promise<{ jobId: string }> {
    const jobId = randomUUID();
    try {
      await this.dataSource.transaction(async (manager) => {
        await manager.insert(TrainingJob, {
          id: jobId,
          channelId: request.channelId,
          status: 'queued',
          maxAttempts: this.config.JOB_MAX_ATTEMPTS,
          manifestUrl: request.manifestUrl,
          webhookUrl: request.webhookUrl,
          inputRange: request.inputRange ?? null,
          sealedAuthToken: this.seal.seal(request.authToken),
          timings: {},
          skipped: [],
        });
        await this.queue.send(jobId, manager);
      });
    } catch (err) {
      if (err instanceof QueryFailedError && (err.driverError as { code?: string }).code === '23505') {
        const active = await this.jobs.findOneBy({ channelId: request.channelId, status: In(['queued', 'running']) });
        throw new ChannelBusyError(request.channelId, active?.id ?? 'unknown');
      }
      throw err;
    }
    withLogContext({ jobId, channelId: request.channelId }, () =>
      this.logger.log(`job ${jobId} queued for channel ${request.channelId}`),
    );
    return { jobId };
  }

  addListener(listener: JobLifecycleListener): void {
    this.listeners.push(listener);
  }

  /** The channel's queued or running job, if any. */
  activeJob(channelId: string): Promise<TrainingJob | null> {
    return this.jobs.findOneBy({ channelId, status: In(['queued', 'running']) });
  }

  /** The channel's most recent job. */
  latestJob(channelId: string): Promise<TrainingJob | null> {
    return this.jobs.findOne({ where: { channelId }, order: { createdAt: 'DESC' } });
  }

  find(jobId: string): Promise<TrainingJob | null> {
    return this.jobs.findOneBy({ id: jobId });
  }

  list(query: ListJobsQuery): Promise<TrainingJob[]> {
    return this.jobs.find({
      where: {
        ...(query.channelId !== undefined && { channelId: query.channelId }),
        ...(query.status !== undefined && { status: query.status }),
      },
      order: { createdAt: 'DESC' },
      take: query.limit,
    });
  }

  async onApplicationBootstrap(): Promise<void> {
    await assertWritableDir(this.config.WORK_DIR, 'WORK_DIR');
    await assertWritableDir(this.config.MODEL_CACHE_DIR, 'MODEL_CACHE_DIR');
    await this.removeLeftoverWorkDirs();
    await this.handBackStaleJobs();
    const staleMs = this.config.JOB_STALE_SECONDS * 1000;
    this.heartbeatTimer = setInterval(() => void this.heartbeat(), Math.max(500, staleMs / 4));
    this.staleCheckTimer = setInterval(() => void this.handBackStaleJobs(), Math.max(1000, staleMs / 2));
    await this.queue.work(this.config.TRAINING_CONCURRENCY, (jobId, attempt) => this.process(jobId, attempt));
    this.logger.log(`worker ${this.workerId} takes up to ${this.config.TRAINING_CONCURRENCY} job(s) at a time`);
  }

  /**
   * Stops taking jobs and gives running ones SHUTDOWN_GRACE_SECONDS to finish (their heartbeat goes on meanwhile).
   * Jobs still running then go back to the queue without losing an attempt, for another process or the next
   * start. Runs before the queue and the TensorFlow workers are closed (they close on application shutdown).
   */
  async beforeApplicationShutdown(): Promise<void> {
    this.stopping = true;
    clearInterval(this.staleCheckTimer);
    await this.queue.stopWorking();
    if (this.running.size) {
      const grace = this.config.SHUTDOWN_GRACE_SECONDS;
      this.logger.log(`shutting down: waiting up to ${grace} s for ${this.running.size} running job(s)`);
      await Promise.race([Promise.allSettled([...this.running.values()].map((r) => r.done)), sleep(grace * 1000)]);
      for (const [jobId, run] of this.running) await this.handBackAtShutdown(jobId, run);
    }
    clearInterval(this.heartbeatTimer);
  }

  /** Record first (so no one else hands it back), then the queue; only then may the queue's handler return. */
  private async handBackAtShutdown(jobId: string, run: RunningAttempt): Promise<void> {
    const updated = await this.untilDatabaseAnswers(`job ${jobId} hand-back`, () =>
      this.jobs.update(
        { id: jobId, workerId: this.workerId, status: 'running' },
        { status: 'queued', workerId: null, error: SHUTDOWN_HAND_BACK },
      ),
    );
    if (updated.affected === 1) {
      await this.releaseToQueue(jobId, 'interrupted by a shutdown');
      const job = await this.jobs.findOneBy({ id: jobId });
      withLogContext({ jobId, channelId: job?.channelId ?? '' }, () =>
        this.logger.warn(`job ${jobId} handed back to the queue at shutdown`),
      );
    }
    run.abandon();
  }

  /** Ends the queue's hold on a job without using up an attempt; its record must already say `queued`. */
  private async releaseToQueue(jobId: string, reason: string): Promise<void> {
    if (await this.queue.handBack(jobId, reason)) await this.jobs.increment({ id: jobId }, 'maxAttempts', 1);
  }

  /**
   * One attempt of a job, called by the queue. Throwing fails the attempt (the queue retries it); returning ends
   * the queue's hold on it, so a path that leaves the job unfinished must have handed it back first.
   */
  private process(jobId: string, attempt: number): Promise<void> {
    // Fetched just as the process stopped taking jobs: not started, and not counted against the job.
    if (this.stopping) return this.releaseToQueue(jobId, 'fetched during a shutdown');
    let abandon!: () => void;
    const abandoned = new Promise<void>((resolve) => (abandon = resolve));
    const done = this.claimAndRun(jobId, attempt);
    this.running.set(jobId, { done, abandon });
    return Promise.race([done, abandoned]).finally(() => this.running.delete(jobId));
  }

  private async claimAndRun(jobId: string, attempt: number): Promise<void> {
    const claimed = await this.jobs.update(
      { id: jobId, status: 'queued' },
      {
        status: 'running',
        attempt,
        workerId: this.workerId,
        heartbeatAt: new Date(),
        startedAt: new Date(),
        finishedAt: null,
        stage: 'downloading',
        progress: 0,
        error: null,
      },
    );
    if (claimed.affected !== 1) {
      this.logger.warn(`job ${jobId} is not queued any more; attempt ${attempt} skipped`);
      return;
    }
    const job = await this.jobs.findOneByOrFail({ id: jobId });
    await withLogContext({ jobId, channelId: job.channelId }, () => this.attempt(job, attempt));
  }

  private async attempt(job: TrainingJob, attempt: number): Promise<void> {
    this.logger.log(`job ${job.id} (channel ${job.channelId}) attempt ${attempt}/${job.maxAttempts} started`);
    await this.notify(job, (l, event) => l.started(event));
    const owned = { id: job.id, workerId: this.workerId, status: 'running' as const };
    let target: BackendTarget | undefined;
    let outcome: JobOutcome;
    try {
      target = this.targetOf(job);
      outcome = await this.runner.run(
        {
          jobId: job.id,
          channelId: job.channelId,
          manifestUrl: job.manifestUrl,
          target,
          inputRange: job.inputRange ?? undefined,
        },
        this.reporter(job),
      );
    } catch (err) {
      const message = errorMessage(err);
      if (err instanceof JobLostError) {
        this.logger.warn(`job ${job.id} attempt ${attempt} abandoned: ${message}`);
        return;
      }
      if (!isFinal(err) && attempt < job.maxAttempts) {
        const requeued = await this.untilDatabaseAnswers(`job ${job.id} retry`, () =>
          this.jobs.update(owned, {
            status: 'queued',
            error: `attempt ${attempt} failed: ${message}; retrying`,
            workerId: null,
          }),
        );
        if (requeued.affected !== 1) return; // handed back meanwhile: the queue has it already
        this.logger.warn(`job ${job.id} attempt ${attempt} failed, will retry: ${message}`);
        throw err;
      }
      await this.failJob(job, message, target, owned);
      return;
    }
    // The model is with the backend: its record waits for the database however long it takes (the heartbeat
    // keeps the job ours meanwhile), rather than count a finished training as failed.
    const completed = await this.untilDatabaseAnswers(
      `job ${job.id} completion`,
      () =>
        this.jobs.update(owned, {
          status: 'completed',
          stage: null,
          progress: 100,
          timings: outcome.timings,
          result: outcome.result,
          skipped: outcome.skips,
          finishedAt: new Date(),
          workerId: null,
        }),
      Infinity,
    );
    if (completed.affected !== 1) {
      this.logger.warn(`job ${job.id} finished here after it was handed back; its next attempt decides`);
      return;
    }
    this.logger.log(`job ${job.id} completed: ${outcome.result.products} products, ${outcome.result.images} photos`);
    this.recordMetrics(outcome.timings, outcome.result.images);
    await this.notify(job, (l, event) => l.succeeded(event));
  }

  private recordMetrics(timings: Record<string, number>, images: number): void {
    this.metrics.jobsFinished.inc({ outcome: 'completed' });
    for (const [stage, seconds] of Object.entries(timings)) this.metrics.stageSeconds.observe({ stage }, seconds);
    this.metrics.imagesEmbedded.inc(images);
    if (timings.embedding > 0) this.metrics.imagesPerSecond.set(images / timings.embedding);
  }

  /** Jobs by state, for /metrics. */
  async countByState(): Promise<Record<string, number>> {
    const rows: { status: string; count: string }[] = await this.jobs
      .createQueryBuilder('job')
      .select('job.status', 'status')
      .addSelect('COUNT(*)', 'count')
      .groupBy('job.status')
      .getRawMany();
    return Object.fromEntries(rows.map((r) => [r.status, Number(r.count)]));
  }

  /** Fails the job if its record still matches `where` (it may have been handed back meanwhile). */
  private async failJob(
    job: TrainingJob,
    message: string,
    target: BackendTarget | undefined,
    where: FindOptionsWhere<TrainingJob>,
  ): Promise<void> {
    const updated = await this.untilDatabaseAnswers(`job ${job.id} failure`, () =>
      this.jobs.update(where, { status: 'failed', error: message, finishedAt: new Date(), workerId: null }),
    );
    if (updated.affected !== 1) return;
    this.metrics.jobsFinished.inc({ outcome: 'failed' });
    this.logger.error(`job ${job.id} (channel ${job.channelId}) failed: ${message}`);
    await this.notify(job, (l, event) => l.failed(event, message));
    if (target) await this.backend.sendStatus(target, 'failed', null, message);
  }

  private async notify(
    job: TrainingJob,
    call: (listener: JobLifecycleListener, event: JobEvent) => Promise<void>,
  ): Promise<void> {
    const event = { jobId: job.id, channelId: job.channelId, createdAt: job.createdAt };
    for (const listener of this.listeners) {
      await call(listener, event).catch((err) =>
        this.logger.warn(`job ${job.id}: listener failed: ${errorMessage(err)}`),
      );
    }
  }

  private targetOf(job: TrainingJob): BackendTarget {
    let authToken: string;
    try {
      authToken = this.seal.open(job.sealedAuthToken);
    } catch {
      throw new TokenUnreadableError(
        "the job's backend token cannot be decrypted (was ML_SERVICE_TOKEN changed since it was queued?)",
      );
    }
    return {
      webhookUrl: job.webhookUrl,
      authToken,
      channelId: job.channelId,
      policy: egressPolicy(this.config.allowedHosts, [job.manifestUrl, job.webhookUrl]),
    };
  }

  /** Writes progress to the record (and tells listeners) at most twice a second, and at every stage change. */
  private reporter(job: TrainingJob): JobReporter {
    const jobId = job.id;
    let last = 0;
    let lastStage: Stage | undefined;
    return {
      progress: (stage, progress) => {
        const now = Date.now();
        if (stage === lastStage && now - last < 500 && progress < 100) return;
        last = now;
        lastStage = stage;
        void this.jobs.update({ id: jobId, workerId: this.workerId }, { stage, progress }).catch(() => undefined);
        void this.notify(job, (l, event) => l.progress(event, progress));
      },
      skipped: (skips: JobSkip[]) => void this.jobs.update({ id: jobId }, { skipped: skips }).catch(() => undefined),
      stillOwned: async () =>
        (await this.untilDatabaseAnswers(`job ${jobId} ownership check`, () =>
          this.jobs.countBy({ id: jobId, workerId: this.workerId, status: 'running' }),
        )) === 1,
    };
  }

  /**
   * A read or write a job cannot go on without (its outcome, its ownership): while the database is unreachable it
   * is retried every DATABASE_RETRY_MS, for up to DATABASE_PATIENCE_MS, so an outage delays the job instead of
   * losing its result.
   */
  private async untilDatabaseAnswers<T>(
    what: string,
    operation: () => Promise<T>,
    patienceMs = DATABASE_PATIENCE_MS,
  ): Promise<T> {
    const deadline = Date.now() + patienceMs;
    for (;;) {
      try {
        return await operation();
      } catch (err) {
        if (!isDatabaseUnreachable(err) || Date.now() + DATABASE_RETRY_MS > deadline) throw err;
        this.logger.warn(`${what} waits for the database: ${errorMessage(err)}`);
        await sleep(DATABASE_RETRY_MS);
      }
    }
  }

  private async heartbeat(): Promise<void> {
    if (!this.running.size) return;
    await this.jobs
      .update(
        { id: In([...this.running.keys()]), workerId: this.workerId, status: 'running' },
        { heartbeatAt: new Date() },
      )
      .catch((err) => this.logger.warn(`heartbeat not written: ${errorMessage(err)}`));
  }

  /**
   * Jobs whose process stopped reporting (killed, crashed, cut off) go back to the queue: pg-boss retries them
   * after the backoff, or fails them for good after the last attempt. This process's own jobs count too once they
   * no longer run here (their end could not be written, e.g. during a long database outage).
   */
  async handBackStaleJobs(): Promise<void> {
    let stale: { id: string; channelId: string }[];
    try {
      stale = await this.dataSource
        .query(
          `UPDATE training_job SET status = 'queued', worker_id = NULL, updated_at = now(),
                error = 'attempt ' || attempt || ' stopped: its process stopped reporting; retrying'
          WHERE status = 'running' AND heartbeat_at < now() - make_interval(secs => $1)
            AND (worker_id <> $2 OR id::text <> ALL($3::text[]))
          RETURNING id, channel_id AS "channelId"`,
          [this.config.JOB_STALE_SECONDS, this.workerId, [...this.running.keys()]],
        )
        .then((result: [{ id: string; channelId: string }[], number]) => result[0]);
    } catch (err) {
      this.logger.warn(`could not look for stale jobs: ${errorMessage(err)}`);
      return;
    }
    for (const { id, channelId } of stale) {
      await withLogContext({ jobId: id, channelId }, async () => {
        const state = await this.queue.failAttempt(id, 'its process stopped reporting');
        this.logger.warn(`job ${id} handed back to the queue (${state})`);
        const job = state === 'failed' ? await this.jobs.findOneBy({ id }) : null;
        if (!job) return;
        let target: BackendTarget | undefined;
        try {
          target = this.targetOf(job);
        } catch {
          target = undefined;
        }
        await this.failJob(job, `all ${job.maxAttempts} attempts were interrupted`, target, { id, status: 'queued' });
      });
    }
  }

  /** Working folders of jobs that are not running here (left by a crash) are removed at start-up. */
  private async removeLeftoverWorkDirs(): Promise<void> {
    const entries = await fs.readdir(this.config.WORK_DIR).catch(() => [] as string[]);
    for (const entry of entries) {
      if (isUuid(entry) && (await this.jobs.countBy({ id: entry, status: 'running' }))) continue;
      await fs.rm(path.join(this.config.WORK_DIR, entry), { recursive: true, force: true });
    }
  }
}

function isUuid(value: string): boolean {
  return /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(value);
}

function errorMessage(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).slice(0, 1000);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
