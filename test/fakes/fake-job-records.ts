/** JobRecordsRepository in memory, with the same rules: state-changing writes only when the record is as expected. */
import type { EntityManager } from 'typeorm';
import {
  completedRecord,
  type JobFilter,
  type JobRecordsRepository,
  type JobRef,
  type NewJob,
} from '../../src/jobs/job-records.repository';
import type { PreviousModel } from '../../src/training/till-scans';
import type { TrainedJobModel } from '../../src/jobs/trained-model.entity';
import type { JobOutcome, JobSkip, TrainingJob } from '../../src/jobs/training-job.entity';
import type { Stage } from '../../src/training/trainer.service';
import type { PublicOf } from './public';

/** What `pg` throws when the server cannot be reached (isDatabaseUnreachable counts it as such). */
export function connectionRefused(): Error {
  return Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
}

export class FakeJobRecords implements PublicOf<JobRecordsRepository> {
  readonly jobs = new Map<string, TrainingJob>();
  readonly kept = new Map<string, TrainedJobModel>();
  /** report.html of completed jobs (the real store keeps a channel's last few; this one keeps all). */
  readonly reports = new Map<string, string>();
  /** The head of each channel's last accepted model. */
  readonly lastModels = new Map<string, PreviousModel>();
  /** While set, every call fails as if the database were unreachable. */
  unreachable = false;
  /** Called at the start of every call, by name (to change a record "meanwhile"). */
  onCall: (method: string) => void = () => undefined;

  /** A record as the intake writes it, with `fields` over it. */
  add(fields: Partial<TrainingJob> & { id: string }): TrainingJob {
    const job = {
      channelId: 'c1',
      status: 'queued',
      stage: null,
      progress: 0,
      attempt: 0,
      maxAttempts: 3,
      error: null,
      manifestUrl: 'http://127.0.0.1:1/admin-api?query=query{m}',
      webhookUrl: 'http://127.0.0.1:1/admin-api',
      inputRange: null,
      unknownShare: null,
      sealedAuthToken: '',
      timings: {},
      result: null,
      skipped: [],
      workerId: null,
      heartbeatAt: null,
      createdAt: new Date(),
      startedAt: null,
      finishedAt: null,
      updatedAt: new Date(),
      ...fields,
    } as TrainingJob;
    this.jobs.set(job.id, job);
    return job;
  }

  get(jobId: string): TrainingJob {
    const job = this.jobs.get(jobId);
    if (!job) throw new Error(`no record ${jobId}`);
    return job;
  }

  private async call(method: string): Promise<void> {
    await Promise.resolve();
    this.onCall(method);
    if (this.unreachable) throw connectionRefused();
  }

  private isActive(job: TrainingJob): boolean {
    return job.status === 'queued' || job.status === 'running';
  }

  private runningIn(jobId: string, workerId: string): TrainingJob | undefined {
    const job = this.jobs.get(jobId);
    return job?.status === 'running' && job.workerId === workerId ? job : undefined;
  }

  private change(job: TrainingJob, fields: Partial<TrainingJob>): true {
    Object.assign(job, fields, { updatedAt: new Date() });
    return true;
  }

  async create(
    job: NewJob,
    alongside: (manager: EntityManager) => Promise<void>,
    maxQueued = Infinity,
  ): Promise<'created' | 'channel-busy' | 'queue-full'> {
    await this.call('create');
    if ([...this.jobs.values()].filter((j) => j.status === 'queued').length >= maxQueued) return 'queue-full';
    if ([...this.jobs.values()].some((j) => j.channelId === job.channelId && this.isActive(j))) return 'channel-busy';
    await alongside({} as EntityManager);
    this.add({ ...job, status: 'queued' });
    return 'created';
  }

  async find(jobId: string): Promise<TrainingJob | null> {
    await this.call('find');
    return this.jobs.get(jobId) ?? null;
  }

  async findActive(channelId: string): Promise<TrainingJob | null> {
    await this.call('findActive');
    return [...this.jobs.values()].find((j) => j.channelId === channelId && this.isActive(j)) ?? null;
  }

  async findLatest(channelId: string): Promise<TrainingJob | null> {
    await this.call('findLatest');
    return (await this.list({ channelId, limit: 1 }))[0] ?? null;
  }

  async list(filter: JobFilter): Promise<TrainingJob[]> {
    await this.call('list');
    return [...this.jobs.values()]
      .filter(
        (j) =>
          (filter.channelId === undefined || j.channelId === filter.channelId) &&
          (filter.status === undefined || j.status === filter.status),
      )
      .sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime())
      .slice(0, filter.limit);
  }

  async countByStatus(): Promise<Record<string, number>> {
    await this.call('countByStatus');
    const counts: Record<string, number> = {};
    for (const job of this.jobs.values()) counts[job.status] = (counts[job.status] ?? 0) + 1;
    return counts;
  }

  async claim(jobId: string, attempt: number, workerId: string): Promise<TrainingJob | null> {
    await this.call('claim');
    const job = this.jobs.get(jobId);
    if (job?.status !== 'queued') return null;
    const now = new Date();
    this.change(job, {
      status: 'running',
      attempt,
      workerId,
      heartbeatAt: now,
      startedAt: now,
      finishedAt: null,
      stage: 'downloading',
      progress: 0,
      error: null,
    });
    return { ...job };
  }

  async isRunningIn(jobId: string, workerId: string): Promise<boolean> {
    await this.call('isRunningIn');
    return this.runningIn(jobId, workerId) !== undefined;
  }

  async isRunning(jobId: string): Promise<boolean> {
    await this.call('isRunning');
    return this.jobs.get(jobId)?.status === 'running';
  }

  async writeProgress(jobId: string, workerId: string, stage: Stage, progress: number): Promise<void> {
    await this.call('writeProgress');
    const job = this.jobs.get(jobId);
    if (job?.workerId === workerId) this.change(job, { stage, progress });
  }

  async writeSkips(jobId: string, skips: JobSkip[]): Promise<void> {
    await this.call('writeSkips');
    const job = this.jobs.get(jobId);
    if (job) this.change(job, { skipped: skips });
  }

  async requeue(jobId: string, workerId: string, error: string): Promise<boolean> {
    await this.call('requeue');
    const job = this.runningIn(jobId, workerId);
    return job ? this.change(job, { status: 'queued', workerId: null, error }) : false;
  }

  async complete(jobId: string, workerId: string, outcome: JobOutcome, model?: PreviousModel): Promise<boolean> {
    await this.call('complete');
    const job = this.runningIn(jobId, workerId);
    if (!job) return false;
    this.kept.delete(jobId);
    this.reports.set(jobId, outcome.report);
    if (model) this.lastModels.set(job.channelId, model);
    return this.change(job, completedRecord(outcome));
  }

  async lastModel(channelId: string): Promise<PreviousModel | null> {
    await this.call('lastModel');
    return this.lastModels.get(channelId) ?? null;
  }

  async report(jobId: string): Promise<string | null> {
    await this.call('report');
    return this.reports.get(jobId) ?? null;
  }

  async fail(jobId: string, heldBy: string | null, error: string): Promise<boolean> {
    await this.call('fail');
    const job = heldBy === null ? this.jobs.get(jobId) : this.runningIn(jobId, heldBy);
    if (!job || (heldBy === null && job.status !== 'queued')) return false;
    this.kept.delete(jobId);
    return this.change(job, { status: 'failed', error, finishedAt: new Date(), workerId: null });
  }

  async keepModel(jobId: string, workerId: string, model: TrainedJobModel): Promise<boolean> {
    await this.call('keepModel');
    const job = this.runningIn(jobId, workerId);
    if (!job) return false;
    this.kept.set(jobId, model);
    return this.change(job, { heartbeatAt: new Date() });
  }

  async keptModel(jobId: string): Promise<TrainedJobModel | undefined> {
    await this.call('keptModel');
    return this.kept.get(jobId);
  }

  async hasKeptModel(jobId: string): Promise<boolean> {
    await this.call('hasKeptModel');
    return this.kept.has(jobId);
  }

  async beat(jobIds: string[], workerId: string): Promise<void> {
    await this.call('beat');
    for (const id of jobIds) {
      const job = this.runningIn(id, workerId);
      if (job) this.change(job, { heartbeatAt: new Date() });
    }
  }

  async handBackStale(staleSeconds: number, workerId: string, ownRunning: string[]): Promise<JobRef[]> {
    await this.call('handBackStale');
    const before = Date.now() - staleSeconds * 1000;
    const stale = [...this.jobs.values()].filter(
      (j) =>
        j.status === 'running' &&
        (j.heartbeatAt?.getTime() ?? 0) < before &&
        (j.workerId !== workerId || !ownRunning.includes(j.id)),
    );
    for (const job of stale)
      this.change(job, {
        status: 'queued',
        workerId: null,
        error: `attempt ${job.attempt} stopped: its process stopped reporting; retrying`,
      });
    return stale.map((j) => ({ id: j.id, channelId: j.channelId }));
  }

  async addAttempt(jobId: string): Promise<void> {
    await this.call('addAttempt');
    const job = this.jobs.get(jobId);
    if (job) this.change(job, { maxAttempts: job.maxAttempts + 1 });
  }
}
