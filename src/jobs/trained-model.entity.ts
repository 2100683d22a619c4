/** The trained_model table: a job's model kept between training and the backend's confirmed upload. */
import { Column, CreateDateColumn, Entity, PrimaryColumn } from 'typeorm';
import type { ModelFiles } from '../backend/backend-contract';
import type { JobOutcome, JobResult, JobSkip } from './training-job.entity';

/**
 * A job's model once it is trained and before the backend has confirmed its upload. An attempt that starts after a
 * crash or a failed upload finds it here and uploads these same files (same trainingId) instead of training a
 * different model. Removed when the job ends.
 */
@Entity('trained_model')
export class TrainedModel {
  @PrimaryColumn('uuid', { name: 'job_id' })
  jobId!: string;

  @Column('bytea', { name: 'model_json' })
  modelJson!: Buffer;

  @Column('bytea')
  weights!: Buffer;

  @Column('bytea')
  metadata!: Buffer;

  @Column('jsonb')
  result!: JobResult;

  /** Seconds per stage of the attempt that trained it. */
  @Column('jsonb')
  timings!: Record<string, number>;

  @Column('jsonb')
  skipped!: JobSkip[];

  @Column('text')
  report!: string;

  @CreateDateColumn({ type: 'timestamptz', name: 'created_at' })
  createdAt!: Date;
}

/** A trained model ready for upload, with what the job record will say about it. */
export interface TrainedJobModel {
  files: ModelFiles;
  outcome: JobOutcome;
}
