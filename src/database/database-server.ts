import * as path from 'node:path';
import { Logger, type OnApplicationShutdown } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import { createDatabaseIfMissing, EmbeddedPostgres, withDatabaseName } from './embedded-postgres';

const EMBEDDED_DATABASE = 'ml_trainer';

/**
 * Where the service's Postgres is: DATABASE_URL as given or, when it is unset outside production, an embedded
 * PostgreSQL in DATA_DIR/postgres that this process starts and stops.
 */
export class DatabaseServer implements OnApplicationShutdown {
  private constructor(
    readonly url: string,
    private readonly embedded?: EmbeddedPostgres,
  ) {}

  static async open(config: AppConfig): Promise<DatabaseServer> {
    if (config.DATABASE_URL) return new DatabaseServer(config.DATABASE_URL);
    const embedded = await new EmbeddedPostgres(path.join(config.DATA_DIR, 'postgres')).start();
    await createDatabaseIfMissing(embedded.url, EMBEDDED_DATABASE);
    new Logger(DatabaseServer.name).log(
      `no DATABASE_URL: using an embedded PostgreSQL in ${embedded.dir} (127.0.0.1:${embedded.port}); ` +
        'set DATABASE_URL to a postgres:// URL to use your own server',
    );
    return new DatabaseServer(withDatabaseName(embedded.url, EMBEDDED_DATABASE), embedded);
  }

  /** Runs after TypeORM and the queue have closed their connections (this module is global and imported first). */
  async onApplicationShutdown(): Promise<void> {
    await this.embedded?.stop();
  }
}
