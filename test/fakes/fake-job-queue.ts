/** JobQueueRepository in memory: entries by job id, handed to the registered handler when a test delivers them. */
import type { JobQueueRepository, QueuedJobHandler } from '../../src/jobs/job-queue.repository';
import type { JobRef } from '../../src/jobs/job-records.repository';
import type { PublicOf } from './public';

type EntryState = 'created' | 'active' | 'retry' | 'completed' | 'failed';

export class FakeJobQueue implements PublicOf<JobQueueRepository> {
  readonly entries = new Map<string, { state: EntryState; attempts: number; limit: number }>();
  /** What `strandedJobs` answers (the real one is SQL over both tables: see the medium tier). */
  stranded: JobRef[] = [];
  /** What `failAttempt` answers, by job id (default: 'retry'). */
  failAttemptAnswers = new Map<string, 'retry' | 'failed' | 'unknown'>();
  readonly calls: string[] = [];
  private handler?: QueuedJobHandler;
  working = false;
  stopped = false;

  constructor(private readonly retryLimit = 2) {}

  async onModuleInit(): Promise<void> {}

  async onApplicationShutdown(): Promise<void> {}

  async send(jobId: string): Promise<void> {
    this.calls.push(`send ${jobId}`);
    this.entries.set(jobId, { state: 'created', attempts: 0, limit: this.retryLimit });
  }

  async work(_concurrency: number, handler: QueuedJobHandler): Promise<void> {
    this.handler = handler;
    this.working = true;
  }

  /**
   * Hands a job to the handler as pg-boss would: returning completes the entry, throwing fails the attempt. Resolves
   * with what became of the entry.
   */
  async deliver(jobId: string, attempt = 1): Promise<EntryState> {
    if (!this.handler) throw new Error('nobody works on the queue');
    const entry = this.entries.get(jobId) ?? { state: 'created', attempts: 0, limit: this.retryLimit };
    this.entries.set(jobId, entry);
    entry.state = 'active';
    entry.attempts = attempt;
    try {
      await this.handler(jobId, attempt);
      entry.state = 'completed';
    } catch {
      entry.state = entry.attempts > entry.limit ? 'failed' : 'retry';
    }
    return entry.state;
  }

  async stopWorking(): Promise<void> {
    this.calls.push('stopWorking');
    this.working = false;
  }

  async stop(beforeClose: () => Promise<void> = async () => undefined): Promise<void> {
    this.calls.push('stop');
    await beforeClose();
    this.calls.push('close');
    this.stopped = true;
  }

  async revive(jobId: string): Promise<'waiting' | 'raised' | 'renewed'> {
    this.calls.push(`revive ${jobId}`);
    const entry = this.entries.get(jobId);
    if (entry?.state === 'created' || entry?.state === 'retry') return 'waiting';
    if (entry?.state === 'failed' || entry?.state === 'active') {
      entry.state = 'retry';
      entry.limit++;
      return 'raised';
    }
    this.entries.set(jobId, { state: 'created', attempts: 0, limit: this.retryLimit });
    return 'renewed';
  }

  async failAttempt(jobId: string): Promise<'retry' | 'failed' | 'unknown'> {
    this.calls.push(`failAttempt ${jobId}`);
    return this.failAttemptAnswers.get(jobId) ?? 'retry';
  }

  async strandedJobs(): Promise<JobRef[]> {
    return this.stranded;
  }

  async check(): Promise<void> {
    if (this.stopped) throw new Error('the queue is not started');
  }
}
