/** Nest module for Postgres: TypeORM with the service's entities and migrations. */
import { Global, Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import type { DataSourceOptions } from 'typeorm';
import { AppConfig } from '../config/app-config';
import { ChannelTrainingState } from '../scheduler/channel-training-state.entity';
import { JobReport } from '../jobs/job-report.entity';
import { TrainedModel } from '../jobs/trained-model.entity';
import { TrainingJob } from '../jobs/training-job.entity';
import { DatabaseServer } from './database-server';
import { CreateTrainingJob1764201600000 } from './migrations/1764201600000-create-training-job';
import { CreateChannelTrainingState1764288000000 } from './migrations/1764288000000-create-channel-training-state';
import { AddJobInputRange1764374400000 } from './migrations/1764374400000-add-job-input-range';
import { CreateTrainedModel1764460800000 } from './migrations/1764460800000-create-trained-model';
import { AddJobUnknownShare1764547200000 } from './migrations/1764547200000-add-job-unknown-share';
import { CreateJobReport1764633600000 } from './migrations/1764633600000-create-job-report';

/** Entities and migrations are listed here, not globbed, so compiled and TypeScript runs see the same set. */
export const ENTITIES = [TrainingJob, TrainedModel, JobReport, ChannelTrainingState];
export const MIGRATIONS = [
  CreateTrainingJob1764201600000,
  CreateChannelTrainingState1764288000000,
  AddJobInputRange1764374400000,
  CreateTrainedModel1764460800000,
  AddJobUnknownShare1764547200000,
  CreateJobReport1764633600000,
];

/** The service's TypeORM connection to `url`: its entities, its migrations run at start-up, never synchronised. */
export function dataSourceOptions(url: string): Extract<DataSourceOptions, { type: 'postgres' }> {
  return {
    type: 'postgres',
    url,
    entities: ENTITIES,
    migrations: MIGRATIONS,
    migrationsRun: true,
    synchronize: false,
    applicationName: 'ml-trainer',
    extra: { max: 10, connectionTimeoutMillis: 5000 },
  };
}

/**
 * Postgres through TypeORM. Migrations run at start-up; the schema is never synchronised from the entities.
 * Global, so that the queue reaches DatabaseServer too, and so that Nest stops the embedded server after TypeORM.
 */
@Global()
@Module({
  providers: [{ provide: DatabaseServer, inject: [AppConfig], useFactory: DatabaseServer.open }],
  exports: [DatabaseServer],
  imports: [
    TypeOrmModule.forRootAsync({
      inject: [DatabaseServer],
      useFactory: (database: DatabaseServer) => ({
        ...dataSourceOptions(database.url),
        retryAttempts: 5,
        retryDelay: 2000,
      }),
    }),
  ],
})
export class DatabaseModule {}
