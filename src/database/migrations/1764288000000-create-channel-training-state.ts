/** Migration: the channel_training_state table (CHANNEL_STATE_SOURCE=own). */
import type { MigrationInterface, QueryRunner } from 'typeorm';

export class CreateChannelTrainingState1764288000000 implements MigrationInterface {
  name = 'CreateChannelTrainingState1764288000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE channel_training_state (
        channel_id text PRIMARY KEY,
        queued_at timestamptz NULL,
        last_trained_at timestamptz NULL,
        status text NOT NULL DEFAULT 'idle' CHECK (status IN ('idle', 'training', 'active', 'failed')),
        progress int NOT NULL DEFAULT 0,
        error text NULL,
        last_job_id uuid NULL,
        updated_at timestamptz NOT NULL DEFAULT now()
      )`);
    await queryRunner.query(
      `CREATE INDEX channel_training_state_queued ON channel_training_state (queued_at) WHERE queued_at IS NOT NULL`,
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE channel_training_state`);
  }
}
