/** Migration: training_job.input_range. */
import type { MigrationInterface, QueryRunner } from 'typeorm';

export class AddJobInputRange1764374400000 implements MigrationInterface {
  name = 'AddJobInputRange1764374400000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `ALTER TABLE training_job ADD COLUMN input_range text NULL CHECK (input_range IN ('tm', 'unit'))`,
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE training_job DROP COLUMN input_range`);
  }
}
