/** The training_job table: one row per job, what the API shows and what survives a restart. */
import { Column, CreateDateColumn, Entity, Index, PrimaryColumn, UpdateDateColumn } from 'typeorm';
import type { ModelQuality } from '../export/model-quality';
import type { InputRange } from '../config/ml-choices';
import type { RecognitionMetadata } from '../export/teachable-machine-format';
import type { Stage } from '../training/trainer.service';

export const JOB_STATES = ['queued', 'running', 'completed', 'failed'] as const;
export type JobState = (typeof JOB_STATES)[number];

/** What a finished job reports about its model (no tokens, no URLs with credentials). */
export interface JobResult {
  trainingId: string;
  products: number;
  images: number;
  skippedImages: number;
  droppedProducts: string[];
  validationAccuracy: number | null;
  /** The model's recognition gate, its expected figures, look-alikes and photo advice (as in metadata.json). */
  recognition: RecognitionMetadata;
  /** What the model will do, in words (as metadata.json's `quality`; absent from jobs that completed before it). */
  quality?: ModelQuality;
  backend: string | null;
  /**
   * Everything the training warned about: the manifest's (products merged or ignored, and why), the negative bank's,
   * look-alikes and photo advice (at most MAX_RECORDED_WARNINGS, then how many more).
   */
  warnings: string[];
}

/** A photo or product left out of a job, and why. */
export interface JobSkip {
  product: string;
  photo: string;
  reason: string;
}

/** What a finished attempt writes to the job record. */
export interface JobOutcome {
  result: JobResult;
  timings: Record<string, number>;
  skips: JobSkip[];
  /** report.html (see export/report.ts). */
  report: string;
}

/**
 * The durable record of a training job. The queue (pg-boss) decides who runs it; this row is what the API shows.
 * At most one queued or running job per channel: a partial unique index guarantees it even between processes.
 */
@Entity('training_job')
@Index('training_job_one_active_per_channel', ['channelId'], { unique: true, where: `status IN ('queued', 'running')` })
export class TrainingJob {
  @PrimaryColumn('uuid')
  id!: string;

  @Column('text', { name: 'channel_id' })
  channelId!: string;

  @Column('text')
  status!: JobState;

  @Column('text', { nullable: true })
  stage!: Stage | null;

  /** Overall progress, 0–100. */
  @Column('int', { default: 0 })
  progress!: number;

  /** The attempt running or last run (1-based); 0 before the first starts. */
  @Column('int', { default: 0 })
  attempt!: number;

  @Column('int', { name: 'max_attempts' })
  maxAttempts!: number;

  @Column('text', { nullable: true })
  error!: string | null;

  @Column('text', { name: 'manifest_url' })
  manifestUrl!: string;

  @Column('text', { name: 'webhook_url' })
  webhookUrl!: string;

  /** Input range of the exported model; null = MODEL_INPUT_RANGE. */
  @Column('text', { name: 'input_range', nullable: true })
  inputRange!: InputRange | null;

  /** Share of the till's scans expected to show what the shop does not sell; null = RECOGNITION_UNKNOWN_SHARE. */
  @Column('double precision', { name: 'unknown_share', nullable: true })
  unknownShare!: number | null;

  /** The backend's token for this job, encrypted (see token-seal.ts); never returned by the API. */
  @Column('text', { name: 'sealed_auth_token' })
  sealedAuthToken!: string;

  /** Seconds per stage of the last attempt. */
  @Column('jsonb', { default: {} })
  timings!: Record<string, number>;

  @Column('jsonb', { nullable: true })
  result!: JobResult | null;

  /** Photos and products left out by the last attempt. */
  @Column('jsonb', { default: [] })
  skipped!: JobSkip[];

  /** The process running the job, and when it last said it was alive. */
  @Column('text', { name: 'worker_id', nullable: true })
  workerId!: string | null;

  @Column('timestamptz', { name: 'heartbeat_at', nullable: true })
  heartbeatAt!: Date | null;

  @CreateDateColumn({ type: 'timestamptz', name: 'created_at' })
  createdAt!: Date;

  @Column('timestamptz', { name: 'started_at', nullable: true })
  startedAt!: Date | null;

  @Column('timestamptz', { name: 'finished_at', nullable: true })
  finishedAt!: Date | null;

  @UpdateDateColumn({ type: 'timestamptz', name: 'updated_at' })
  updatedAt!: Date;
}

/** The columns a list of jobs shows: what the API shows of a job but its photos left out (up to 500 a job). */
export const LISTED_JOB_COLUMNS = [
  'id',
  'channelId',
  'status',
  'stage',
  'progress',
  'attempt',
  'maxAttempts',
  'error',
  'timings',
  'result',
  'createdAt',
  'startedAt',
  'finishedAt',
  'updatedAt',
] as const satisfies readonly (keyof TrainingJob)[];

export type ListedJob = Pick<TrainingJob, (typeof LISTED_JOB_COLUMNS)[number]>;
