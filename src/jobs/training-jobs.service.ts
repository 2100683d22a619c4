import { randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Injectable, Logger, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { isUUID } from 'class-validator';
import { DataSource, In, QueryFailedError, type FindOptionsWhere, type Repository, type UpdateResult } from 'typeorm';
import type { QueryDeepPartialEntity } from 'typeorm/query-builder/QueryPartialEntity';
import { AppConfig } from '../config/app-config';
import { MetricsService } from '../metrics/metrics.service';
import { egressPolicy } from '../common/egress';
import { assertWritableDir } from '../common/local-disk';
import { redactSecrets, registerSecret } from '../common/secrets';
import { stripControlCharacters } from '../common/validation';
import { TokenSeal } from '../common/token-seal';
import { withLogContext } from '../logging/log-context';
import { isDatabaseUnreachable } from '../database/database-errors';
import { BackendClient, type BackendTarget } from '../backend/backend-client.service';
import type { TrainRequestDto } from './dto/train-request.dto';
import type { ListJobsQuery } from './dto/list-jobs.query';
import { JobQueueService, TRAINING_QUEUE } from './job-queue.service';
import {
  JobLostError,
  JobTimeoutError,
  TrainingJobRunner,
  type JobOutcome,
  type JobReporter,
  type TrainedJobModel,
} from './training-job.runner';
import { TrainedModel } from './trained-model.entity';
import { TrainingJob, type JobSkip } from './training-job.entity';
import type { Stage } from '../training/trainer.service';
import { FinalError, isFinal, TrainerError } from '../common/errors';
import { retry } from '../common/retry';

/** A channel already has a queued or running job; `jobId` is that job. */
export class ChannelBusyError extends TrainerError {
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

/** The job's sealed token cannot be opened (another ML_SERVICE_TOKEN): no attempt can. */
class TokenUnreadableError extends FinalError {}

/** How long a write that a job needs waits for an unreachable database before it is given up. */
const DATABASE_PATIENCE_MS = 5 * 60_000;
const DATABASE_RETRY_MS = 2_000;

const SHUTDOWN_HAND_BACK = 'the attempt was interrupted by a shutdown; handed back to the queue';

/** An attempt in this process: `claim` settles once its record says so, `done` when the attempt ends. */
interface RunningAttempt {
  claim: Promise<TrainingJob | null>;
  done: Promise<void>;
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
  /** Jobs given back to the queue at shutdown: their queue entries are failed, never completed, by this process. */
  private readonly handedBack = new Set<string>();
  /** Settles once the queue's connections are closed: a handed-back job's handler may return then, to no effect. */
  private readonly queueClosed: Promise<void>;
  private markQueueClosed!: () => void;

  constructor(
    @InjectRepository(TrainingJob) private readonly jobs: Repository<TrainingJob>,
    @InjectRepository(TrainedModel) private readonly trainedModels: Repository<TrainedModel>,
    private readonly dataSource: DataSource,
    private readonly queue: JobQueueService,
    private readonly runner: TrainingJobRunner,
    private readonly backend: BackendClient,
    private readonly config: AppConfig,
    private readonly metrics: MetricsService,
  ) {
    this.seal = new TokenSeal(config.ML_SERVICE_TOKEN);
    registerSecret(config.ML_SERVICE_TOKEN);
    this.queueClosed = new Promise((resolve) => (this.markQueueClosed = resolve));
  }

  /** The one entry point for new trainings (the HTTP API and the scheduler both come here). */
  async startTraining(request: TrainRequestDto): Promise<{ jobId: string }> {
    registerSecret(request.authToken);
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
    await this.reviveStrandedJobs();
    const staleMs = this.config.JOB_STALE_SECONDS * 1000;
    this.heartbeatTimer = setInterval(() => void this.heartbeat(), Math.max(500, staleMs / 4));
    this.staleCheckTimer = setInterval(
      () => void this.handBackStaleJobs().then(() => this.reviveStrandedJobs()),
      Math.max(1000, staleMs / 2),
    );
    await this.queue.work(this.config.TRAINING_CONCURRENCY, (jobId, attempt) => this.process(jobId, attempt));
    this.logger.log(`worker ${this.workerId} takes up to ${this.config.TRAINING_CONCURRENCY} job(s) at a time`);
  }

  /**
   * Stops taking jobs and gives running ones SHUTDOWN_GRACE_SECONDS to finish (their heartbeat goes on meanwhile).
   * Jobs still running then go back to the queue for another process or the next start; a shutdown never uses up
   * a job's last attempt. Runs before the TensorFlow workers are closed (on application shutdown).
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
          this.logger.error(`job ${jobId} not handed back at shutdown: ${errorMessage(err)}`),
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
   * Its record says `queued` again, and its queue entry is left for the queue to fail when it stops (see process).
   * Marked handed back before the record is written, so that an attempt ending meanwhile cannot complete it.
   */
  private async handBackAtShutdown(jobId: string, run: RunningAttempt): Promise<void> {
    const job = await run.claim.catch(() => null);
    if (!job) return;
    this.handedBack.add(jobId);
    const updated = await this.untilDatabaseAnswers(`job ${jobId} hand-back`, () =>
      this.jobs.update(
        { id: jobId, workerId: this.workerId, status: 'running' },
        { status: 'queued', workerId: null, error: SHUTDOWN_HAND_BACK },
      ),
    );
    if (updated.affected !== 1) {
      this.handedBack.delete(jobId); // it ended (or was taken over) meanwhile
      return;
    }
    withLogContext({ jobId, channelId: job.channelId }, () =>
      this.logger.warn(`job ${jobId} handed back to the queue at shutdown`),
    );
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
    const claim = this.claim(jobId, attempt);
    const done = claim.then((job) =>
      job ? withLogContext({ jobId, channelId: job.channelId }, () => this.attempt(job, attempt)) : undefined,
    );
    this.running.set(jobId, { claim, done });
    try {
      await done;
    } catch (err) {
      if (!this.handedBack.has(jobId)) throw err;
    } finally {
      this.running.delete(jobId);
    }
    if (this.handedBack.has(jobId)) await this.queueClosed;
  }

  /** The job, once its record says it runs here; null when it has ended already. */
  private async claim(jobId: string, attempt: number): Promise<TrainingJob | null> {
    const claimed = await this.jobs.update(
      { id: jobId, status: 'queued' },
      {
        status: 'running',
        attempt,
        workerId: this.workerId,
        // The database's clock, which the stale check compares with: a process whose clock is behind must not
        // look dead.
        heartbeatAt: () => 'now()',
        startedAt: () => 'now()',
        finishedAt: null,
        stage: 'downloading',
        progress: 0,
        error: null,
      },
    );
    if (claimed.affected === 1) return this.jobs.findOneByOrFail({ id: jobId });
    const record = await this.jobs.findOneBy({ id: jobId });
    // Still running elsewhere (or stuck there): failing this attempt keeps the queue entry alive until the record
    // is queued again or ends, where completing it would leave the job with no queue entry at all.
    if (record?.status === 'running') throw new Error(`job ${jobId} is running in ${record.workerId}; not started`);
    this.logger.warn(`job ${jobId} is ${record?.status ?? 'gone'}; attempt ${attempt} skipped`);
    return null;
  }

  /**
   * Runs the attempt and writes its outcome to the record, if the record is still ours. When it is not (another
   * process or a shutdown handed the job back meanwhile), JobLostError fails the queue's hold on this attempt:
   * completing it could complete another process's run of the job.
   */
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
          trained: await this.keptModel(job.id),
        },
        this.reporter(job),
      );
    } catch (err) {
      const message = errorMessage(err);
      if (err instanceof JobLostError) {
        this.logger.warn(`job ${job.id} attempt ${attempt} abandoned: ${message}`);
        throw err;
      }
      // A ceiling reached with the model kept (while uploading it) is worth another attempt: it only uploads again.
      const final = isFinal(err) && !(err instanceof JobTimeoutError && (await this.hasKeptModel(job.id)));
      if (!final && attempt < job.maxAttempts) {
        const requeued = await this.untilDatabaseAnswers(`job ${job.id} retry`, () =>
          this.jobs.update(owned, {
            status: 'queued',
            error: `attempt ${attempt} failed: ${message}; retrying`,
            workerId: null,
          }),
        );
        if (requeued.affected !== 1) throw new JobLostError('the job was handed back while this attempt failed');
        this.logger.warn(`job ${job.id} attempt ${attempt} failed, will retry: ${message}`);
        throw err;
      }
      if (!(await this.failJob(job, message, target, owned)))
        throw new JobLostError('the job was handed back while this attempt failed');
      return;
    }
    // The model is with the backend: its record waits for the database however long it takes (the heartbeat
    // keeps the job ours meanwhile), rather than count a finished training as failed.
    const completed = await this.untilDatabaseAnswers(
      `job ${job.id} completion`,
      () =>
        this.endRecord(job.id, owned, {
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
    if (completed.affected !== 1) throw new JobLostError('the job was handed back before this attempt finished');
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

  /** Fails the job if its record still matches `where` (it may have been handed back meanwhile); false if not. */
  private async failJob(
    job: TrainingJob,
    message: string,
    target: BackendTarget | undefined,
    where: FindOptionsWhere<TrainingJob>,
  ): Promise<boolean> {
    const updated = await this.untilDatabaseAnswers(`job ${job.id} failure`, () =>
      this.endRecord(job.id, where, { status: 'failed', error: message, finishedAt: new Date(), workerId: null }),
    );
    if (updated.affected !== 1) return false;
    this.metrics.jobsFinished.inc({ outcome: 'failed' });
    this.logger.error(`job ${job.id} (channel ${job.channelId}) failed: ${message}`);
    await this.notify(job, (l, event) => l.failed(event, message));
    if (target) await this.backend.sendStatus(target, 'failed', null, message);
    return true;
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
    registerSecret(authToken);
    return {
      webhookUrl: job.webhookUrl,
      authToken,
      channelId: job.channelId,
      policy: egressPolicy(this.config.allowedHosts, [job.manifestUrl, job.webhookUrl], this.config.allowedPorts),
    };
  }

  /**
   * Writes a job's end (completed or failed) if its record still matches `where`, and removes its kept model in the
   * same transaction: an ended job never leaves one behind.
   */
  private endRecord(
    jobId: string,
    where: FindOptionsWhere<TrainingJob>,
    end: QueryDeepPartialEntity<TrainingJob>,
  ): Promise<UpdateResult> {
    return this.dataSource.transaction(async (manager) => {
      const ended = await manager.update(TrainingJob, where, end);
      if (ended.affected === 1) await manager.delete(TrainedModel, { jobId });
      return ended;
    });
  }

  private hasKeptModel(jobId: string): Promise<boolean> {
    return this.trainedModels.existsBy({ jobId }).catch(() => false);
  }

  /** The model an earlier attempt of the job trained and kept, if any. */
  private async keptModel(jobId: string): Promise<TrainedJobModel | undefined> {
    const kept = await this.untilDatabaseAnswers(`job ${jobId} kept model`, () =>
      this.trainedModels.findOneBy({ jobId }),
    );
    if (!kept) return undefined;
    return {
      files: { modelJson: kept.modelJson, weightsFile: kept.weights, metadata: kept.metadata },
      outcome: { result: kept.result, timings: kept.timings, skips: kept.skipped },
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
      trained: async ({ files, outcome }) => {
        // Kept only while the job is still this attempt's: a process that lost it must not replace the model the
        // job's owner may be uploading.
        const kept = await this.untilDatabaseAnswers(`job ${jobId} model`, () =>
          this.dataSource.transaction(async (manager) => {
            const owned = { id: jobId, workerId: this.workerId, status: 'running' as const };
            const updated = await manager.update(TrainingJob, owned, { heartbeatAt: () => 'now()' });
            if (updated.affected !== 1) return false;
            await manager.upsert(
              TrainedModel,
              {
                jobId,
                modelJson: files.modelJson,
                weights: files.weightsFile,
                metadata: files.metadata,
                result: outcome.result,
                timings: outcome.timings,
                skipped: outcome.skips,
              },
              ['jobId'],
            );
            return true;
          }),
        );
        if (!kept) throw new JobLostError('another process took this job over');
      },
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
    return retry(operation, {
      attempts: Infinity,
      delayMs: DATABASE_RETRY_MS,
      fixedDelay: true,
      giveUpAfterMs: patienceMs,
      retryable: isDatabaseUnreachable,
      onRetry: (err) => this.logger.warn(`${what} waits for the database: ${errorMessage(err)}`),
    });
  }

  private async heartbeat(): Promise<void> {
    if (!this.running.size) return;
    await this.jobs
      .update(
        { id: In([...this.running.keys()]), workerId: this.workerId, status: 'running' },
        { heartbeatAt: () => 'now()' },
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

  /**
   * Jobs whose record has waited in `queued` for JOB_STALE_SECONDS while their queue entry will never hand them out
   * (it ended, or its holder is gone), what an interrupted hand-back can leave behind, are revived in the queue.
   * Reads pg-boss 10's job table.
   */
  async reviveStrandedJobs(): Promise<void> {
    const stranded: { id: string; channelId: string }[] = await this.dataSource
      .query(
        `SELECT t.id, t.channel_id AS "channelId" FROM training_job t
          LEFT JOIN pgboss.job q ON q.name = $2 AND q.id = t.id
          WHERE t.status = 'queued' AND t.updated_at < now() - make_interval(secs => $1)
            AND (q.id IS NULL OR q.state NOT IN ('created', 'retry'))
          LIMIT 100`,
        [this.config.JOB_STALE_SECONDS, TRAINING_QUEUE],
      )
      .catch((err: unknown) => {
        this.logger.warn(`could not look for queued jobs without a queue entry: ${errorMessage(err)}`);
        return [];
      });
    for (const { id, channelId } of stranded) await withLogContext({ jobId: id, channelId }, () => this.revive(id));
  }

  /** Makes the queue run a job whose record says `queued` (see JobQueueService.revive). */
  private async revive(jobId: string): Promise<void> {
    try {
      const outcome = await this.queue.revive(jobId);
      if (outcome === 'waiting') return;
      if (outcome === 'raised') await this.jobs.increment({ id: jobId }, 'maxAttempts', 1);
      this.logger.warn(
        `job ${jobId} revived in the queue (${outcome === 'raised' ? 'one more attempt' : 'new entry'})`,
      );
    } catch (err) {
      this.logger.error(`job ${jobId} could not be revived in the queue: ${errorMessage(err)}`);
    }
  }

  /** Working folders of jobs that are not running here (left by a crash) are removed at start-up. */
  private async removeLeftoverWorkDirs(): Promise<void> {
    const entries = await fs.readdir(this.config.WORK_DIR).catch(() => [] as string[]);
    for (const entry of entries) {
      if (isUUID(entry) && (await this.jobs.countBy({ id: entry, status: 'running' }))) continue;
      await fs.rm(path.join(this.config.WORK_DIR, entry), { recursive: true, force: true });
    }
  }
}

/** For the record (Postgres text holds no NUL) and the backend: one line, no token, at most 1000 characters. */
function errorMessage(err: unknown): string {
  return redactSecrets(stripControlCharacters(err instanceof Error ? err.message : String(err))).slice(0, 1000);
}
