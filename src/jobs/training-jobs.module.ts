import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { DatasetModule } from '../dataset/dataset.module';
import { BackendModule } from '../backend/backend.module';
import { JobQueueService } from './job-queue.service';
import { TrainedModel } from './trained-model.entity';
import { TrainingJob } from './training-job.entity';
import { TrainingJobRunner } from './training-job.runner';
import { TrainingJobsController } from './training-jobs.controller';
import { TrainingJobsService } from './training-jobs.service';
import { TrainingModule } from '../training/training.module';

/** The service side of training: the HTTP API, durable jobs in Postgres and their runner. */
@Module({
  imports: [TypeOrmModule.forFeature([TrainingJob, TrainedModel]), TrainingModule, DatasetModule, BackendModule],
  controllers: [TrainingJobsController],
  providers: [JobQueueService, TrainingJobRunner, TrainingJobsService],
  exports: [TrainingJobsService, JobQueueService],
})
export class TrainingJobsModule {}
