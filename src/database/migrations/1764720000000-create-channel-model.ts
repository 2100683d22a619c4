/** Migration: the channel_model table (the head of each channel's last accepted model). */
import type { MigrationInterface, QueryRunner } from 'typeorm';

export class CreateChannelModel1764720000000 implements MigrationInterface {
  name = 'CreateChannelModel1764720000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE channel_model (
        channel_id text PRIMARY KEY,
        training_id text NOT NULL,
        trained_at timestamptz NOT NULL,
        labels jsonb NOT NULL,
        hidden_units int NOT NULL,
        head bytea NOT NULL,
        updated_at timestamptz NOT NULL DEFAULT now()
      )`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE channel_model`);
  }
}
