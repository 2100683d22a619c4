/** The hourly scheduler: starts the channels that are due, and keeps channel state true as jobs end. */
import { Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { SchedulerRegistry } from '@nestjs/schedule';
import { CronJob } from 'cron';
import { DataSource } from 'typeorm';
import { AppConfig } from '../config/app-config';
import { JobEvents, type JobEvent, type JobLifecycleListener } from '../jobs/job-events';
import { ChannelBusyError, JobsService } from '../jobs/jobs.service';
import { ChannelStateStore } from './channel-state.store';
import { decide, type ChannelState } from './eligibility';
import { adminApiUrl, manifestUrlFor } from '../backend/backend-contract';

export interface TickResult {
  started: { channelId: string; jobId: string }[];
  skipped: { channelId: string; reason: string }[];
  /** Set when another replica held the tick lock: this replica did nothing. */
  ranElsewhere?: true;
}

/** One tick at a time across all replicas on the database (a transaction-scoped advisory lock). */
const TICK_LOCK = 'ml-trainer scheduler tick';
const CRON_NAME = 'training-scheduler';

/**
 * Decides when queued channels train: every tick (SCHEDULER_CRON) starts the channels that are due, oldest first,
 * through the same path as POST /v1/train. Also keeps the channel state true as jobs start and end.
 */
@Injectable()
export class SchedulerService implements OnApplicationBootstrap, JobLifecycleListener {
  private readonly logger = new Logger(SchedulerService.name);

  constructor(
    private readonly config: AppConfig,
    private readonly channels: ChannelStateStore,
    private readonly jobs: JobsService,
    private readonly jobEvents: JobEvents,
    private readonly db: DataSource,
    private readonly registry: SchedulerRegistry,
  ) {}

  onApplicationBootstrap(): void {
    this.jobEvents.subscribe(this);
    if (!this.config.SCHEDULER_ENABLED) {
      this.logger.log('scheduler disabled (SCHEDULER_ENABLED=false)');
      return;
    }
    const cron = CronJob.from({
      cronTime: this.config.SCHEDULER_CRON,
      onTick: () => void this.tick().catch((err) => this.logger.error(`tick failed: ${(err as Error).message}`)),
      start: true,
    });
    this.registry.addCronJob(CRON_NAME, cron);
    this.logger.log(
      `scheduler runs at "${this.config.SCHEDULER_CRON}" (${this.config.CHANNEL_STATE_SOURCE} channel state)`,
    );
  }

  /** Starts every due channel; one line per channel in the log. Only one replica runs a tick at a time. */
  async tick(now: Date = new Date()): Promise<TickResult> {
    return this.db.transaction(async (manager) => {
      const [{ locked }] = (await manager.query('SELECT pg_try_advisory_xact_lock(hashtext($1)) AS locked', [
        TICK_LOCK,
      ])) as { locked: boolean }[];
      if (!locked) {
        this.logger.log('tick skipped: another replica is running one');
        return { started: [], skipped: [], ranElsewhere: true as const };
      }
      const result: TickResult = { started: [], skipped: [] };
      for (let channel of await this.channels.listQueued()) {
        const active = await this.jobs.activeJob(channel.channelId);
        if (channel.status === 'training' && !active) channel = await this.repairFinishedTraining(channel);
        const decision = decide(channel, now, this.config.COOLDOWN_HOURS, active !== null);
        if (!decision.start) {
          this.skip(result, channel.channelId, decision.reason);
          continue;
        }
        await this.start(result, channel, decision.reason);
      }
      this.logger.log(`tick: ${result.started.length} started, ${result.skipped.length} skipped`);
      return result;
    });
  }

  private async start(result: TickResult, channel: ChannelState, reason: string): Promise<void> {
    const authToken = this.config.ML_SERVICE_TOKEN;
    if (!authToken)
      return this.skip(result, channel.channelId, 'ML_SERVICE_TOKEN is not set: the backend cannot be called');
    try {
      const { jobId } = await this.jobs.startTraining({
        channelId: channel.channelId,
        manifestUrl: manifestUrlFor(this.config.BACKEND_INTERNAL_URL, channel.channelId),
        webhookUrl: adminApiUrl(this.config.BACKEND_INTERNAL_URL),
        authToken,
      });
      await this.channels.clearQueued(channel.channelId, channel.queuedAt!);
      result.started.push({ channelId: channel.channelId, jobId });
      this.logger.log(`channel ${channel.channelId}: started job ${jobId} (${reason})`);
    } catch (err) {
      // Still queued: the next tick tries again.
      const why =
        err instanceof ChannelBusyError
          ? 'a job is already queued or running'
          : `could not start: ${(err as Error).message}`;
      this.skip(result, channel.channelId, why);
    }
  }

  private skip(result: TickResult, channelId: string, reason: string): void {
    result.skipped.push({ channelId, reason });
    this.logger.log(`channel ${channelId}: skipped (${reason})`);
  }

  /**
   * A channel still marked training whose last job has ended missed the update (its process stopped between the
   * two writes): its state is set from that job, so that it does not wait forever. A channel marked training with
   * no job of ours is left alone.
   */
  private async repairFinishedTraining(channel: ChannelState): Promise<ChannelState> {
    const last = await this.jobs.latestJob(channel.channelId);
    if (last?.status === 'completed') await this.channels.jobSucceeded(channel.channelId, last.id, last.createdAt);
    else if (last?.status === 'failed')
      await this.channels.jobFailed(channel.channelId, last.id, last.error ?? 'failed');
    else return channel;
    this.logger.warn(
      `channel ${channel.channelId}: still marked training after job ${last.id} ended; state set from that job`,
    );
    return (await this.channels.get(channel.channelId)) ?? channel;
  }

  // Job lifecycle → channel state.
  async started(job: JobEvent): Promise<void> {
    await this.channels.jobStarted(job.channelId, job.jobId);
  }

  async progress(job: JobEvent, progress: number): Promise<void> {
    await this.channels.jobProgress(job.channelId, progress);
  }

  async succeeded(job: JobEvent): Promise<void> {
    await this.channels.jobSucceeded(job.channelId, job.jobId, job.createdAt);
  }

  async failed(job: JobEvent, error: string): Promise<void> {
    await this.channels.jobFailed(job.channelId, job.jobId, error);
  }
}
