/** A job as GET /v1/jobs shows it. */
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import {
  JOB_STATES,
  type JobResult,
  type JobSkip,
  type JobState,
  type ListedJob,
  type TrainingJob,
} from '../training-job.entity';
import { STAGES, type Stage } from '../../training/trainer.service';

/** A job as GET /v1/jobs lists it: no token, nothing the backend did not already know, and not its photos left out. */
export class JobSummaryView {
  @ApiProperty() jobId!: string;
  @ApiProperty() channelId!: string;
  @ApiProperty({ enum: JOB_STATES }) state!: JobState;
  @ApiPropertyOptional({ enum: STAGES, nullable: true }) stage!: Stage | null;
  @ApiProperty({ minimum: 0, maximum: 100 }) progress!: number;
  @ApiProperty({ description: 'Attempt running or last run (1-based)' }) attempt!: number;
  @ApiProperty() maxAttempts!: number;
  @ApiPropertyOptional({ nullable: true }) error!: string | null;
  @ApiProperty({ description: 'Seconds per stage of the last attempt' }) timings!: Record<string, number>;
  @ApiPropertyOptional({ nullable: true, description: 'Summary of the trained model' }) metrics!: JobResult | null;
  @ApiPropertyOptional({
    nullable: true,
    description: "A completed job's report.html (what the model will recognise), GET with the same token",
  })
  reportUrl!: string | null;
  @ApiProperty() createdAt!: string;
  @ApiPropertyOptional({ nullable: true }) startedAt!: string | null;
  @ApiPropertyOptional({ nullable: true }) finishedAt!: string | null;
  @ApiProperty() updatedAt!: string;

  static of(job: ListedJob): JobSummaryView {
    return {
      jobId: job.id,
      channelId: job.channelId,
      state: job.status,
      stage: job.stage,
      progress: job.progress,
      attempt: job.attempt,
      maxAttempts: job.maxAttempts,
      error: job.error,
      timings: job.timings,
      metrics: job.result,
      reportUrl: job.status === 'completed' ? `/v1/jobs/${job.id}/report` : null,
      createdAt: job.createdAt.toISOString(),
      startedAt: job.startedAt?.toISOString() ?? null,
      finishedAt: job.finishedAt?.toISOString() ?? null,
      updatedAt: job.updatedAt.toISOString(),
    };
  }
}

/** A job as GET /v1/jobs/:jobId shows it: the summary and the photos and products left out. */
export class JobView extends JobSummaryView {
  @ApiProperty({ description: 'Photos and products left out, with the reason (at most 500)' }) skipped!: JobSkip[];

  static override of(job: TrainingJob): JobView {
    return { ...JobSummaryView.of(job), skipped: job.skipped };
  }
}
