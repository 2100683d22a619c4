/** The service side of training: the HTTP API, durable jobs in Postgres, their queue and their attempts. */
import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { TokenSeal } from '../auth/token-seal';
import { AppConfig } from '../config/app-config';
import { BackendModule } from '../backend/backend.module';
import { DatasetModule } from '../dataset/dataset.module';
import { ExportModule } from '../export/export.module';
import { TrainingModule } from '../training/training.module';
import { JobEvents } from './job-events';
import { JobProcessor } from './job.processor';
import { JobQueueRepository } from './job-queue.repository';
import { JobRecordsRepository } from './job-records.repository';
import { JobRecoveryService } from './job-recovery.service';
import { JobsController } from './jobs.controller';
import { JobsService } from './jobs.service';
import { JOB_ENTITIES } from './job-entities';

@Module({
  imports: [TypeOrmModule.forFeature(JOB_ENTITIES), TrainingModule, ExportModule, DatasetModule, BackendModule],
  controllers: [JobsController],
  providers: [
    // One key for the tokens jobs carry: sealed at intake, opened by each attempt.
    {
      provide: TokenSeal,
      inject: [AppConfig],
      useFactory: (config: AppConfig) => new TokenSeal(config.ML_SERVICE_TOKEN),
    },
    JobRecordsRepository,
    JobQueueRepository,
    JobEvents,
    JobsService,
    JobProcessor,
    JobRecoveryService,
  ],
  exports: [JobsService, JobEvents, JobQueueRepository],
})
export class JobsModule {}
