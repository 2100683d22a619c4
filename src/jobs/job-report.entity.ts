/** The job_report table: the report.html of a completed job, answered by GET /v1/jobs/:jobId/report. */
import { Column, CreateDateColumn, Entity, PrimaryColumn } from 'typeorm';

/** Reports kept per channel: a channel's older ones go when a newer job completes (a report is under 1 MB). */
export const KEPT_REPORTS_PER_CHANNEL = 5;

@Entity('job_report')
export class JobReport {
  @PrimaryColumn('uuid', { name: 'job_id' })
  jobId!: string;

  @Column('text', { name: 'channel_id' })
  channelId!: string;

  @Column('text')
  html!: string;

  @CreateDateColumn({ type: 'timestamptz', name: 'created_at' })
  createdAt!: Date;
}
