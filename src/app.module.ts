/** The HTTP service's root module: which modules make up the running service. */
import { Module } from '@nestjs/common';
import { ConfigModule } from './config/config.module';
import { DatabaseModule } from './database/database.module';
import { LoggingModule } from './logging/logging.module';
import { HealthModule } from './health/health.module';
import { MetricsModule } from './metrics/metrics.module';
import { SchedulerModule } from './scheduler/scheduler.module';
import { JobsModule } from './jobs/jobs.module';

/** The HTTP service: configuration, JSON logs, Postgres, training jobs (with datasets, export and webhooks), the scheduler and health. */
@Module({
  imports: [ConfigModule, LoggingModule, MetricsModule, DatabaseModule, JobsModule, SchedulerModule, HealthModule],
})
export class AppModule {}
