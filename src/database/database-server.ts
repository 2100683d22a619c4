/** Which Postgres the service uses: DATABASE_URL, or the embedded one in DATA_DIR. */
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
  /** Embedded servers this process started or took over, for a start-up that fails before Nest can stop them. */
  private static readonly embeddedServers = new Set<EmbeddedPostgres>();

  private constructor(
    readonly url: string,
    private readonly embedded?: EmbeddedPostgres,
  ) {}

  static async open(config: AppConfig): Promise<DatabaseServer> {
    if (config.DATABASE_URL) return new DatabaseServer(config.DATABASE_URL);
    const embedded = await new EmbeddedPostgres(path.join(config.DATA_DIR, 'postgres')).start();
    DatabaseServer.embeddedServers.add(embedded);
    await createDatabaseIfMissing(embedded.url, EMBEDDED_DATABASE);
    new Logger(DatabaseServer.name).log(
      `no DATABASE_URL: using an embedded PostgreSQL in ${embedded.dir} (127.0.0.1:${embedded.port}); ` +
        'set DATABASE_URL to a postgres:// URL to use your own server',
    );
    return new DatabaseServer(withDatabaseName(embedded.url, EMBEDDED_DATABASE), embedded);
  }

  /** Runs after TypeORM and the queue have closed their connections (this module is global and imported first). */
  async onApplicationShutdown(): Promise<void> {
    if (!this.embedded) return;
    await this.embedded.stop();
    DatabaseServer.embeddedServers.delete(this.embedded);
  }

  /** Stops every embedded server still running, when the service could not start. */
  static async stopEmbedded(): Promise<void> {
    await Promise.all([...DatabaseServer.embeddedServers].map((server) => server.stop()));
    DatabaseServer.embeddedServers.clear();
  }
}
