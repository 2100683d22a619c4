/** Test support: the tests' Postgres database. */
import { Client } from 'pg';

/**
 * The tests' database. `npm test` (with-test-database.ts) creates it on the server named here, or points this at an
 * embedded PostgreSQL when no server answers; every suite starts from an empty one.
 */
export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/ml_trainer_test';

/** Runs `work` with a connection to the test database, closed afterwards whatever happens. */
export async function withDatabase<T>(work: (db: Client) => Promise<T>): Promise<T> {
  const db = new Client({ connectionString: TEST_DATABASE_URL });
  await db.connect();
  try {
    return await work(db);
  } finally {
    await db.end();
  }
}

/** Drops the service's tables and queue so a suite starts clean. */
export async function resetDatabase(): Promise<void> {
  await withDatabase((db) =>
    db.query('DROP SCHEMA IF EXISTS pgboss CASCADE; DROP SCHEMA public CASCADE; CREATE SCHEMA public;'),
  );
}
