/** Migration: training_job.unknown_share. */
import type { MigrationInterface, QueryRunner } from 'typeorm';

export class AddJobUnknownShare1764547200000 implements MigrationInterface {
  name = 'AddJobUnknownShare1764547200000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `ALTER TABLE training_job ADD COLUMN unknown_share double precision NULL CHECK (unknown_share >= 0 AND unknown_share <= 0.9)`,
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE training_job DROP COLUMN unknown_share`);
  }
}
