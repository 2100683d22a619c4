/** Migration: the training_job table and its one-active-job-per-channel index. */
import type { MigrationInterface, QueryRunner } from 'typeorm';

export class CreateTrainingJob1764201600000 implements MigrationInterface {
  name = 'CreateTrainingJob1764201600000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE training_job (
        id uuid PRIMARY KEY,
        channel_id text NOT NULL,
        status text NOT NULL CHECK (status IN ('queued', 'running', 'completed', 'failed')),
        stage text NULL,
        progress int NOT NULL DEFAULT 0,
        attempt int NOT NULL DEFAULT 0,
        max_attempts int NOT NULL,
        error text NULL,
        manifest_url text NOT NULL,
        webhook_url text NOT NULL,
        sealed_auth_token text NOT NULL,
        timings jsonb NOT NULL DEFAULT '{}',
        result jsonb NULL,
        skipped jsonb NOT NULL DEFAULT '[]',
        worker_id text NULL,
        heartbeat_at timestamptz NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        started_at timestamptz NULL,
        finished_at timestamptz NULL,
        updated_at timestamptz NOT NULL DEFAULT now()
      )`);
    await queryRunner.query(
      `CREATE UNIQUE INDEX training_job_one_active_per_channel ON training_job (channel_id) WHERE status IN ('queued', 'running')`,
    );
    await queryRunner.query(`CREATE INDEX training_job_channel_created ON training_job (channel_id, created_at DESC)`);
    await queryRunner.query(`CREATE INDEX training_job_status_heartbeat ON training_job (status, heartbeat_at)`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE training_job`);
  }
}
