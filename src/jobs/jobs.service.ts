/** Taking training jobs in (the HTTP API and the scheduler both come here) and looking them up. */
import { randomUUID } from 'node:crypto';
import { Injectable, Logger } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import { TrainerError } from '../common/errors';
import { TokenSeal } from '../auth/token-seal';
import { withLogContext } from '../logging/log-context';
import type { TrainRequestDto } from './dto/train-request.dto';
import type { ListJobsQuery } from './dto/list-jobs.query';
import { JobQueueRepository } from './job-queue.repository';
import { JobRecordsRepository } from './job-records.repository';
import type { ListedJob, TrainingJob } from './training-job.entity';

/** A channel already has a queued or running job; `jobId` is that job. */
export class ChannelBusyError extends TrainerError {
  constructor(
    readonly channelId: string,
    readonly jobId: string,
  ) {
    super(`channel ${channelId} already has a training job queued or running`);
  }
}

/** MAX_QUEUED_JOBS jobs are queued already: the request is refused, to be made again later. */
export class QueueFullError extends TrainerError {
  constructor(readonly queued: number) {
    super(`${queued} training jobs are queued (MAX_QUEUED_JOBS); try again later`);
  }
}

@Injectable()
export class JobsService {
  private readonly logger = new Logger(JobsService.name);
  constructor(
    private readonly records: JobRecordsRepository,
    private readonly queue: JobQueueRepository,
    private readonly seal: TokenSeal,
    private readonly config: AppConfig,
  ) {}

  /**
   * A job record and its queue entry, together or not at all; ChannelBusyError if the channel has an active job,
   * QueueFullError past MAX_QUEUED_JOBS.
   */
  async startTraining(request: TrainRequestDto): Promise<{ jobId: string }> {
    const jobId = randomUUID();
    const created = await this.records.create(
      {
        id: jobId,
        channelId: request.channelId,
        maxAttempts: this.config.JOB_MAX_ATTEMPTS,
        manifestUrl: request.manifestUrl,
        webhookUrl: request.webhookUrl,
        inputRange: request.inputRange ?? null,
        unknownShare: request.unknownShare ?? null,
        sealedAuthToken: this.seal.seal(request.authToken),
      },
      (manager) => this.queue.send(jobId, manager),
      this.config.MAX_QUEUED_JOBS,
    );
    if (created === 'queue-full') throw new QueueFullError(this.config.MAX_QUEUED_JOBS);
    if (created === 'channel-busy') {
      const active = await this.records.findActive(request.channelId);
      throw new ChannelBusyError(request.channelId, active?.id ?? 'unknown');
    }
    withLogContext({ jobId, channelId: request.channelId }, () =>
      this.logger.log(`job ${jobId} queued for channel ${request.channelId}`),
    );
    return { jobId };
  }

  /** The channel's queued or running job, if any. */
  activeJob(channelId: string): Promise<TrainingJob | null> {
    return this.records.findActive(channelId);
  }

  /** The channel's most recent job. */
  latestJob(channelId: string): Promise<TrainingJob | null> {
    return this.records.findLatest(channelId);
  }

  find(jobId: string): Promise<TrainingJob | null> {
    return this.records.find(jobId);
  }

  /** A completed job's report.html, while it is kept. */
  report(jobId: string): Promise<string | null> {
    return this.records.report(jobId);
  }

  list(query: ListJobsQuery): Promise<ListedJob[]> {
    return this.records.list(query);
  }

  /** Jobs by state, for /metrics. */
  countByState(): Promise<Record<string, number>> {
    return this.records.countByStatus();
  }
}
