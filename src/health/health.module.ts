import { Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { TrainingJobsModule } from '../jobs/training-jobs.module';
import { HealthController } from './health.controller';
import { MetricsController } from './metrics.controller';

@Module({
  imports: [TerminusModule, TrainingJobsModule],
  controllers: [HealthController, MetricsController],
})
export class HealthModule {}
