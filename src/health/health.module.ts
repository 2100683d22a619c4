import { Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { TrainingJobsModule } from '../training/training-jobs.module';
import { HealthController } from './health.controller';

@Module({
  imports: [TerminusModule, TrainingJobsModule],
  controllers: [HealthController],
})
export class HealthModule {}
