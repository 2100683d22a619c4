/** Channel state in the backend's own channel table (CHANNEL_STATE_SOURCE=vendure). */
import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { ChannelStateStore } from './channel-state.store';
import type { ChannelState, ChannelStatus } from './eligibility';

/**
 * CHANNEL_STATE_SOURCE=vendure: the backend's own `channel` table, whose custom fields hold the state
 * ("customFieldsMltrainingqueuedat", "customFieldsMllasttrainedat": timestamp without time zone in UTC;
 * "customFieldsMltrainingstatus": varchar). It has no progress, error or job columns: those stay in our job records.
 */
@Injectable()
export class VendureChannelStateStore extends ChannelStateStore {
  private static readonly SELECT = `
    SELECT id::text AS channel_id,
           "customFieldsMltrainingqueuedat" AT TIME ZONE 'UTC' AS queued_at,
           "customFieldsMllasttrainedat" AT TIME ZONE 'UTC' AS last_trained_at,
           COALESCE("customFieldsMltrainingstatus", 'idle') AS status
      FROM channel`;

  constructor(private readonly db: DataSource) {
    super();
  }

  async list(): Promise<ChannelState[]> {
    return this.select(`${VendureChannelStateStore.SELECT} ORDER BY id`);
  }

  async get(channelId: string): Promise<ChannelState | null> {
    return (await this.select(`${VendureChannelStateStore.SELECT} WHERE id::text = $1`, [channelId]))[0] ?? null;
  }

  async listQueued(): Promise<ChannelState[]> {
    return this.select(
      `${VendureChannelStateStore.SELECT} WHERE "customFieldsMltrainingqueuedat" IS NOT NULL ORDER BY "customFieldsMltrainingqueuedat", id`,
    );
  }

  async markQueued(channelId: string): Promise<ChannelState | null> {
    await this.db.query(
      `UPDATE channel SET "customFieldsMltrainingqueuedat" = COALESCE("customFieldsMltrainingqueuedat", now() AT TIME ZONE 'UTC')
        WHERE id::text = $1`,
      [channelId],
    );
    return this.get(channelId);
  }

  async clearQueued(channelId: string, queuedAt: Date): Promise<void> {
    await this.db.query(
      `UPDATE channel SET "customFieldsMltrainingqueuedat" = NULL
        WHERE id::text = $1
          AND date_trunc('milliseconds', "customFieldsMltrainingqueuedat") = ($2::timestamptz AT TIME ZONE 'UTC')`,
      [channelId, queuedAt.toISOString()],
    );
  }

  async jobStarted(channelId: string): Promise<void> {
    await this.setStatus(channelId, 'training');
  }

  async jobProgress(): Promise<void> {
    // The channel table has no progress column; the backend gets progress through the status webhook.
  }

  async jobSucceeded(channelId: string, _jobId: string, jobCreatedAt: Date): Promise<void> {
    await this.db.query(
      `UPDATE channel SET "customFieldsMltrainingstatus" = 'active',
              "customFieldsMllasttrainedat" = now() AT TIME ZONE 'UTC',
              "customFieldsMltrainingqueuedat" = CASE
                WHEN date_trunc('milliseconds', "customFieldsMltrainingqueuedat") <= ($2::timestamptz AT TIME ZONE 'UTC') THEN NULL
                ELSE "customFieldsMltrainingqueuedat" END
        WHERE id::text = $1`,
      [channelId, jobCreatedAt.toISOString()],
    );
  }

  async jobFailed(channelId: string): Promise<void> {
    await this.setStatus(channelId, 'failed');
  }

  private async setStatus(channelId: string, status: ChannelStatus): Promise<void> {
    await this.db.query(`UPDATE channel SET "customFieldsMltrainingstatus" = $2 WHERE id::text = $1`, [
      channelId,
      status,
    ]);
  }

  private async select(sql: string, params: unknown[] = []): Promise<ChannelState[]> {
    const rows = (await this.db.query(sql, params)) as {
      channel_id: string;
      queued_at: Date | null;
      last_trained_at: Date | null;
      status: ChannelStatus;
    }[];
    return rows.map((r) => ({
      channelId: r.channel_id,
      queuedAt: r.queued_at,
      lastTrainedAt: r.last_trained_at,
      status: r.status,
      progress: null,
      error: null,
      lastJobId: null,
      updatedAt: null,
    }));
  }
}
