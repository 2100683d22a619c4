/** The HTTP service's root module: configuration, JSON logs, Postgres, training jobs, the scheduler and health. */
import { Module } from '@nestjs/common';
import { ConfigModule } from './config/config.module';
import { DatabaseModule } from './database/database.module';
import { LoggingModule } from './logging/logging.module';
import { HealthModule } from './health/health.module';
import { MetricsModule } from './metrics/metrics.module';
import { SchedulerModule } from './scheduler/scheduler.module';
import { JobsModule } from './jobs/jobs.module';

@Module({
  imports: [ConfigModule, LoggingModule, MetricsModule, DatabaseModule, JobsModule, SchedulerModule, HealthModule],
})
export class AppModule {}
