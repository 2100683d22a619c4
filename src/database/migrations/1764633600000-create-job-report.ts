/** Migration: the job_report table (report.html of completed jobs), and the report kept with a trained model. */
import type { MigrationInterface, QueryRunner } from 'typeorm';

export class CreateJobReport1764633600000 implements MigrationInterface {
  name = 'CreateJobReport1764633600000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE job_report (
        job_id uuid PRIMARY KEY REFERENCES training_job (id) ON DELETE CASCADE,
        channel_id text NOT NULL,
        html text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
      )`);
    await queryRunner.query(`CREATE INDEX job_report_channel ON job_report (channel_id, created_at DESC)`);
    // A model kept by an attempt before this migration has no report: its job completes with an empty one.
    await queryRunner.query(`ALTER TABLE trained_model ADD COLUMN report text NOT NULL DEFAULT ''`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE trained_model DROP COLUMN report`);
    await queryRunner.query(`DROP TABLE job_report`);
  }
}
