/** The channel_training_state table (CHANNEL_STATE_SOURCE=own). */
import { Column, Entity, PrimaryColumn } from 'typeorm';
import type { ChannelStatus } from './eligibility';

/**
 * Our own record of each channel's training state (CHANNEL_STATE_SOURCE=own). The backend may write `queued_at`
 * directly: a row with only channel_id, queued_at, last_trained_at and status is valid.
 */
@Entity('channel_training_state')
export class ChannelTrainingState {
  @PrimaryColumn('text', { name: 'channel_id' })
  channelId!: string;

  @Column('timestamptz', { name: 'queued_at', nullable: true })
  queuedAt!: Date | null;

  @Column('timestamptz', { name: 'last_trained_at', nullable: true })
  lastTrainedAt!: Date | null;

  @Column('text', { default: 'idle' })
  status!: ChannelStatus;

  @Column('int', { default: 0 })
  progress!: number;

  @Column('text', { nullable: true })
  error!: string | null;

  @Column('uuid', { name: 'last_job_id', nullable: true })
  lastJobId!: string | null;

  @Column('timestamptz', { name: 'updated_at', default: () => 'now()' })
  updatedAt!: Date;
}
