/** Who is told when a job starts, progresses and ends (the scheduler keeps channel state true with it). */
import { Injectable, Logger } from '@nestjs/common';
import { recordableError } from './job-records.repository';
import type { TrainingJob } from './training-job.entity';

/** A job as listeners see it. */
export interface JobEvent {
  jobId: string;
  channelId: string;
  createdAt: Date;
}

/** Told about every job's start, progress and end. A listener that throws is logged; it never affects the job. */
export interface JobLifecycleListener {
  started(job: JobEvent): Promise<void>;
  progress(job: JobEvent, progress: number): Promise<void>;
  succeeded(job: JobEvent): Promise<void>;
  failed(job: JobEvent, error: string): Promise<void>;
}

@Injectable()
export class JobEvents {
  private readonly logger = new Logger(JobEvents.name);
  private readonly listeners: JobLifecycleListener[] = [];

  subscribe(listener: JobLifecycleListener): void {
    this.listeners.push(listener);
  }

  started(job: TrainingJob): Promise<void> {
    return this.tell(job, (l, event) => l.started(event));
  }

  progress(job: TrainingJob, progress: number): Promise<void> {
    return this.tell(job, (l, event) => l.progress(event, progress));
  }

  succeeded(job: TrainingJob): Promise<void> {
    return this.tell(job, (l, event) => l.succeeded(event));
  }

  failed(job: TrainingJob, error: string): Promise<void> {
    return this.tell(job, (l, event) => l.failed(event, error));
  }

  private async tell(
    job: TrainingJob,
    call: (listener: JobLifecycleListener, event: JobEvent) => Promise<void>,
  ): Promise<void> {
    const event = { jobId: job.id, channelId: job.channelId, createdAt: job.createdAt };
    for (const listener of this.listeners) {
      await call(listener, event).catch((err: unknown) =>
        this.logger.warn(`job ${job.id}: listener failed: ${recordableError(err)}`),
      );
    }
  }
}
