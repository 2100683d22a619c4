/** Channel state in our own table (CHANNEL_STATE_SOURCE=own). */
import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { IsNull, Not, type Repository } from 'typeorm';
import { ChannelStateStore } from './channel-state.store';
import { ChannelTrainingState } from './channel-training-state.entity';
import type { ChannelState } from './eligibility';

/** CHANNEL_STATE_SOURCE=own: the `channel_training_state` table. */
@Injectable()
export class OwnChannelStateStore extends ChannelStateStore {
  constructor(@InjectRepository(ChannelTrainingState) private readonly rows: Repository<ChannelTrainingState>) {
    super();
  }

  async list(): Promise<ChannelState[]> {
    return this.rows.find({ order: { channelId: 'ASC' } });
  }

  async get(channelId: string): Promise<ChannelState | null> {
    return this.rows.findOneBy({ channelId });
  }

  async listQueued(): Promise<ChannelState[]> {
    return this.rows.find({ where: { queuedAt: Not(IsNull()) }, order: { queuedAt: 'ASC', channelId: 'ASC' } });
  }

  async markQueued(channelId: string): Promise<ChannelState> {
    await this.rows.query(
      `INSERT INTO channel_training_state (channel_id, queued_at) VALUES ($1, now())
       ON CONFLICT (channel_id) DO UPDATE
         SET queued_at = COALESCE(channel_training_state.queued_at, EXCLUDED.queued_at), updated_at = now()`,
      [channelId],
    );
    return (await this.get(channelId))!;
  }

  async clearQueued(channelId: string, queuedAt: Date): Promise<void> {
    // Postgres keeps microseconds, a JavaScript Date milliseconds: compare at the Date's precision.
    await this.rows.query(
      `UPDATE channel_training_state SET queued_at = NULL, updated_at = now()
        WHERE channel_id = $1 AND date_trunc('milliseconds', queued_at) = $2`,
      [channelId, queuedAt],
    );
  }

  async jobStarted(channelId: string, jobId: string): Promise<void> {
    await this.upsert(channelId, { status: 'training', progress: 0, error: null, lastJobId: jobId });
  }

  async jobProgress(channelId: string, progress: number): Promise<void> {
    await this.rows.update({ channelId, status: 'training' }, { progress, updatedAt: new Date() });
  }

  async jobSucceeded(channelId: string, jobId: string, jobCreatedAt: Date): Promise<void> {
    const now = new Date();
    await this.upsert(channelId, {
      status: 'active',
      progress: 100,
      error: null,
      lastJobId: jobId,
      lastTrainedAt: now,
    });
    await this.rows.query(
      `UPDATE channel_training_state SET queued_at = NULL
        WHERE channel_id = $1 AND date_trunc('milliseconds', queued_at) <= $2`,
      [channelId, jobCreatedAt],
    );
  }

  async jobFailed(channelId: string, jobId: string, error: string): Promise<void> {
    await this.upsert(channelId, { status: 'failed', error, lastJobId: jobId });
  }

  private async upsert(channelId: string, values: Partial<ChannelTrainingState>): Promise<void> {
    await this.rows.upsert({ channelId, ...values, updatedAt: new Date() }, { conflictPaths: ['channelId'] });
  }
}
