/** Every query on the job records (training_job) and the models they keep (trained_model): the jobs' own tables. */
import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { DataSource, In, QueryFailedError, type EntityManager, type FindOptionsWhere, type Repository } from 'typeorm';
import type { QueryDeepPartialEntity } from 'typeorm/query-builder/QueryPartialEntity';
import { redactSecrets } from '../auth/secrets';
import { concurrencyLimit } from '../common/concurrency';
import { cachedPromise } from '../common/promise-cache';
import { stripControlCharacters } from '../common/validation';
import type { Stage } from '../training/trainer.service';
import { TrainedModel, type TrainedJobModel } from './trained-model.entity';
import {
  LISTED_JOB_COLUMNS,
  TrainingJob,
  type JobOutcome,
  type JobSkip,
  type JobState,
  type ListedJob,
} from './training-job.entity';
import { JobReport, KEPT_REPORTS_PER_CHANNEL } from './job-report.entity';
import { ChannelModel, channelModelRow, previousModelOfRow } from './channel-model.entity';
import type { PreviousModel } from '../training/till-scans';

/** What a new job's record is made of; the rest starts empty. */
export interface NewJob {
  id: string;
  channelId: string;
  maxAttempts: number;
  manifestUrl: string;
  webhookUrl: string;
  inputRange: TrainingJob['inputRange'];
  unknownShare: TrainingJob['unknownShare'];
  sealedAuthToken: string;
}

export interface JobFilter {
  channelId?: string;
  status?: JobState;
  limit: number;
}

/** A job named by its id and channel (for log context). */
export interface JobRef {
  id: string;
  channelId: string;
}

/** Large reads at once: the database pool has 10 connections (database.module.ts). */
const LARGE_READS_AT_ONCE = 2;

/** The transaction lock intakes take in turn (an arbitrary number, this service's own among the database's). */
const INTAKE_LOCK = 7_310_531_001;

/** Postgres's unique_violation: here, the index that allows one active job per channel. */
const UNIQUE_VIOLATION = '23505';

/** An error as a record (and the backend) may hold it: one line, no token, no NUL, at most 1000 characters. */
export function recordableError(err: unknown): string {
  return redactSecrets(stripControlCharacters(err instanceof Error ? err.message : String(err))).slice(0, 1000);
}

/** What a completed attempt writes over its record. */
export function completedRecord(outcome: JobOutcome) {
  return {
    status: 'completed' as const,
    stage: null,
    progress: 100,
    timings: outcome.timings,
    result: outcome.result,
    skipped: outcome.skips,
    finishedAt: new Date(),
    workerId: null,
  };
}

/**
 * Writes that change a job's state say which state they expect (`running` here, `queued`): a write that finds the
 * record changed meanwhile (ended, or taken over by another process) changes nothing and returns false.
 */
@Injectable()
export class JobRecordsRepository {
  /**
   * Reads that bring back up to a megabyte or more (reports, lists of jobs) take turns, at most LARGE_READS_AT_ONCE
   * at a time, so that a crowd of them never holds the pool's connections that heartbeats, the scheduler and
   * /health need.
   */
  private readonly largeRead = concurrencyLimit(LARGE_READS_AT_ONCE);
  private readonly reportsBeingRead = new Map<string, Promise<string | null>>();

  constructor(
    @InjectRepository(TrainingJob) private readonly jobs: Repository<TrainingJob>,
    @InjectRepository(TrainedModel) private readonly models: Repository<TrainedModel>,
    @InjectRepository(JobReport) private readonly reports: Repository<JobReport>,
    @InjectRepository(ChannelModel) private readonly channelModels: Repository<ChannelModel>,
    private readonly dataSource: DataSource,
  ) {}

  /**
   * Inserts a queued record and runs `alongside` (the queue entry) in the same transaction, so both exist or
   * neither. 'channel-busy' when the channel already has a queued or running job; 'queue-full' when `maxQueued` jobs
   * are queued. The count and the insert are one step: intakes take a transaction lock in turn (every process on the
   * database), so racing requests cannot overshoot the bound.
   */
  async create(
    job: NewJob,
    alongside: (manager: EntityManager) => Promise<void>,
    maxQueued = Infinity,
  ): Promise<'created' | 'channel-busy' | 'queue-full'> {
    try {
      return await this.dataSource.transaction(async (manager) => {
        if (Number.isFinite(maxQueued)) {
          await manager.query('SELECT pg_advisory_xact_lock($1)', [INTAKE_LOCK]);
          const [{ queued }] = (await manager.query(
            `SELECT count(*)::int AS queued FROM training_job WHERE status = 'queued'`,
          )) as { queued: number }[];
          if (queued >= maxQueued) return 'queue-full';
        }
        await manager.insert(TrainingJob, { ...job, status: 'queued', timings: {}, skipped: [] });
        await alongside(manager);
        return 'created';
      });
    } catch (err) {
      if (err instanceof QueryFailedError && (err.driverError as { code?: string }).code === UNIQUE_VIOLATION)
        return 'channel-busy';
      throw err;
    }
  }

  find(jobId: string): Promise<TrainingJob | null> {
    return this.jobs.findOneBy({ id: jobId });
  }

  /** The channel's queued or running job, if any. */
  findActive(channelId: string): Promise<TrainingJob | null> {
    return this.jobs.findOneBy({ channelId, status: In(['queued', 'running']) });
  }

  /** The channel's most recent job. */
  findLatest(channelId: string): Promise<TrainingJob | null> {
    return this.jobs.findOne({ where: { channelId }, order: { createdAt: 'DESC' } });
  }

  /** Newest first, without the photos left out (up to 500 a job: GET the job for them); one of the large reads. */
  list(filter: JobFilter): Promise<ListedJob[]> {
    return this.largeRead(() =>
      this.jobs.find({
        select: Object.fromEntries(LISTED_JOB_COLUMNS.map((column) => [column, true])),
        where: {
          ...(filter.channelId !== undefined && { channelId: filter.channelId }),
          ...(filter.status !== undefined && { status: filter.status }),
        },
        order: { createdAt: 'DESC' },
        take: filter.limit,
      }),
    );
  }

  async countByStatus(): Promise<Record<string, number>> {
    const rows: { status: string; count: string }[] = await this.jobs
      .createQueryBuilder('job')
      .select('job.status', 'status')
      .addSelect('COUNT(*)', 'count')
      .groupBy('job.status')
      .getRawMany();
    return Object.fromEntries(rows.map((r) => [r.status, Number(r.count)]));
  }

  /** A queued job becomes this worker's running attempt; null when its record was not queued. */
  async claim(jobId: string, attempt: number, workerId: string): Promise<TrainingJob | null> {
    const claimed = await this.jobs.update(
      { id: jobId, status: 'queued' },
      {
        status: 'running',
        attempt,
        workerId,
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
    return claimed.affected === 1 ? this.jobs.findOneByOrFail({ id: jobId }) : null;
  }

  async isRunningIn(jobId: string, workerId: string): Promise<boolean> {
    return (await this.jobs.countBy({ id: jobId, workerId, status: 'running' })) === 1;
  }

  /** Running anywhere. */
  async isRunning(jobId: string): Promise<boolean> {
    return (await this.jobs.countBy({ id: jobId, status: 'running' })) === 1;
  }

  /** Best effort: progress is shown, not relied on. */
  async writeProgress(jobId: string, workerId: string, stage: Stage, progress: number): Promise<void> {
    await this.jobs.update({ id: jobId, workerId }, { stage, progress });
  }

  async writeSkips(jobId: string, skips: JobSkip[]): Promise<void> {
    await this.jobs.update({ id: jobId }, { skipped: skips });
  }

  /** This worker's running attempt goes back to `queued` (the queue will retry it), with `error` saying why. */
  async requeue(jobId: string, workerId: string, error: string): Promise<boolean> {
    const updated = await this.jobs.update(
      { id: jobId, workerId, status: 'running' },
      { status: 'queued', workerId: null, error },
    );
    return updated.affected === 1;
  }

  /**
   * This worker's running attempt completed: the record holds its outcome, the kept model goes, the report is kept
   * (the channel's reports beyond its last KEPT_REPORTS_PER_CHANNEL go), and so is the model's head, as the channel's
   * last accepted model (`model`; undefined: the one before stays).
   */
  complete(jobId: string, workerId: string, outcome: JobOutcome, model?: PreviousModel): Promise<boolean> {
    return this.end({ id: jobId, workerId, status: 'running' }, completedRecord(outcome), async (manager) => {
      const { channelId } = await manager.findOneByOrFail(TrainingJob, { id: jobId });
      if (model) await manager.upsert(ChannelModel, channelModelRow(channelId, model), ['channelId']);
      await manager.insert(JobReport, { jobId, channelId, html: outcome.report });
      await manager.query(
        `DELETE FROM job_report WHERE channel_id = $1 AND job_id NOT IN
           (SELECT job_id FROM job_report WHERE channel_id = $1 ORDER BY created_at DESC, job_id LIMIT $2)`,
        [channelId, KEPT_REPORTS_PER_CHANNEL],
      );
    });
  }

  /** The head of the model the backend last accepted for the channel (null: none yet, or a row of another shape). */
  async lastModel(channelId: string): Promise<PreviousModel | null> {
    const row = await this.channelModels.findOneBy({ channelId });
    return row ? previousModelOfRow(row) : null;
  }

  /**
   * A completed job's report.html, while it is kept. Readers of one report at the same time share one read, and
   * reads take their turn among the large reads.
   */
  report(jobId: string): Promise<string | null> {
    return cachedPromise(
      this.reportsBeingRead,
      jobId,
      () => this.largeRead(async () => (await this.reports.findOneBy({ jobId }))?.html ?? null),
      'while-running',
    );
  }

  /** The job failed for good: this worker's running attempt, or (`heldBy` null) a queued job out of attempts. */
  fail(jobId: string, heldBy: string | null, error: string): Promise<boolean> {
    const where: FindOptionsWhere<TrainingJob> =
      heldBy === null ? { id: jobId, status: 'queued' } : { id: jobId, workerId: heldBy, status: 'running' };
    return this.end(where, { status: 'failed', error, finishedAt: new Date(), workerId: null });
  }

  /** An ended job never leaves a kept model behind: both (and `alongside`) happen in one transaction. */
  private async end(
    where: FindOptionsWhere<TrainingJob>,
    end: QueryDeepPartialEntity<TrainingJob>,
    alongside?: (manager: EntityManager) => Promise<void>,
  ): Promise<boolean> {
    return this.dataSource.transaction(async (manager) => {
      const ended = await manager.update(TrainingJob, where, end);
      if (ended.affected !== 1) return false;
      await manager.delete(TrainedModel, { jobId: where.id as string });
      await alongside?.(manager);
      return true;
    });
  }

  /**
   * Keeps a trained model with the job, only while the job is still this worker's running attempt (a process that
   * lost it must not replace the model the job's owner may be uploading); its heartbeat is renewed with it.
   */
  keepModel(jobId: string, workerId: string, model: TrainedJobModel): Promise<boolean> {
    return this.dataSource.transaction(async (manager) => {
      const updated = await manager.update(
        TrainingJob,
        { id: jobId, workerId, status: 'running' },
        { heartbeatAt: () => 'now()' },
      );
      if (updated.affected !== 1) return false;
      await manager.upsert(
        TrainedModel,
        {
          jobId,
          modelJson: asBuffer(model.files.modelJson),
          weights: asBuffer(model.files.weightsFile),
          metadata: asBuffer(model.files.metadata),
          result: model.outcome.result,
          timings: model.outcome.timings,
          skipped: model.outcome.skips,
          report: model.outcome.report,
        },
        ['jobId'],
      );
      return true;
    });
  }

  /** The model an earlier attempt of the job trained and kept, if any. */
  async keptModel(jobId: string): Promise<TrainedJobModel | undefined> {
    const kept = await this.models.findOneBy({ jobId });
    if (!kept) return undefined;
    return {
      files: { modelJson: kept.modelJson, weightsFile: kept.weights, metadata: kept.metadata },
      outcome: { result: kept.result, timings: kept.timings, skips: kept.skipped, report: kept.report },
    };
  }

  hasKeptModel(jobId: string): Promise<boolean> {
    return this.models.existsBy({ jobId });
  }

  /** Renews the heartbeat of this worker's running attempts. */
  async beat(jobIds: string[], workerId: string): Promise<void> {
    if (!jobIds.length) return;
    await this.jobs.update({ id: In(jobIds), workerId, status: 'running' }, { heartbeatAt: () => 'now()' });
  }

  /**
   * Running attempts whose heartbeat is older than `staleSeconds` go back to `queued`, except this worker's
   * `ownRunning` ones (which are alive whatever the heartbeat says); returns the jobs handed back.
   */
  async handBackStale(staleSeconds: number, workerId: string, ownRunning: string[]): Promise<JobRef[]> {
    const [rows] = (await this.dataSource.query(
      `UPDATE training_job SET status = 'queued', worker_id = NULL, updated_at = now(),
            error = 'attempt ' || attempt || ' stopped: its process stopped reporting; retrying'
      WHERE status = 'running' AND heartbeat_at < now() - make_interval(secs => $1)
        AND (worker_id <> $2 OR id::text <> ALL($3::text[]))
      RETURNING id, channel_id AS "channelId"`,
      [staleSeconds, workerId, ownRunning],
    )) as [JobRef[], number];
    return rows;
  }

  /** One more attempt for a job (the queue gave it one more too). */
  async addAttempt(jobId: string): Promise<void> {
    await this.jobs.increment({ id: jobId }, 'maxAttempts', 1);
  }
}

/** bytea columns take Buffers: a view on the same bytes, not a copy. */
function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
