/** Nest module for Postgres: TypeORM with the service's migrations and the entities each module registers. */
import { Global, Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import type { DataSourceOptions } from 'typeorm';
import { AppConfig } from '../config/app-config';
import { DatabaseServer } from './database-server';
import { CreateTrainingJob1764201600000 } from './migrations/1764201600000-create-training-job';
import { CreateChannelTrainingState1764288000000 } from './migrations/1764288000000-create-channel-training-state';
import { AddJobInputRange1764374400000 } from './migrations/1764374400000-add-job-input-range';
import { CreateTrainedModel1764460800000 } from './migrations/1764460800000-create-trained-model';
import { AddJobUnknownShare1764547200000 } from './migrations/1764547200000-add-job-unknown-share';
import { CreateJobReport1764633600000 } from './migrations/1764633600000-create-job-report';
import { CreateChannelModel1764720000000 } from './migrations/1764720000000-create-channel-model';

/** Migrations are listed here, not globbed, so compiled and TypeScript runs see the same set. */
export const MIGRATIONS = [
  CreateTrainingJob1764201600000,
  CreateChannelTrainingState1764288000000,
  AddJobInputRange1764374400000,
  CreateTrainedModel1764460800000,
  AddJobUnknownShare1764547200000,
  CreateJobReport1764633600000,
  CreateChannelModel1764720000000,
];

/**
 * The service's TypeORM connection to `url`: its migrations run at start-up, never synchronised. In the service each
 * module registers its own entities (TypeOrmModule.forFeature, loaded by autoLoadEntities); a connection made outside
 * Nest names the ones it uses.
 */
export function dataSourceOptions(
  url: string,
  entities: DataSourceOptions['entities'] = [],
): Extract<DataSourceOptions, { type: 'postgres' }> {
  return {
    type: 'postgres',
    url,
    entities,
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
        autoLoadEntities: true,
        retryAttempts: 5,
        retryDelay: 2000,
      }),
    }),
  ],
})
export class DatabaseModule {}
