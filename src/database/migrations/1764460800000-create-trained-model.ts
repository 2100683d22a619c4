/** Migration: the trained_model table (a job's model kept until its upload is confirmed). */
import type { MigrationInterface, QueryRunner } from 'typeorm';

export class CreateTrainedModel1764460800000 implements MigrationInterface {
  name = 'CreateTrainedModel1764460800000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE trained_model (
        job_id uuid PRIMARY KEY REFERENCES training_job (id) ON DELETE CASCADE,
        model_json bytea NOT NULL,
        weights bytea NOT NULL,
        metadata bytea NOT NULL,
        result jsonb NOT NULL,
        timings jsonb NOT NULL,
        skipped jsonb NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
      )`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE trained_model`);
  }
}
