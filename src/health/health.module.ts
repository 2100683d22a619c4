/** Nest module of /health and /metrics. */
import { Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { JobsModule } from '../jobs/jobs.module';
import { HealthController } from './health.controller';
import { MetricsController } from './metrics.controller';

@Module({
  imports: [TerminusModule, JobsModule],
  controllers: [HealthController, MetricsController],
})
export class HealthModule {}
