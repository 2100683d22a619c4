/**
 * Runs a command (the test runner) with a Postgres for the tests, as `npm test` does:
 * `node dist-test/test/support/with-test-database.js <command> [args…]`.
 * When a server answers at TEST_DATABASE_URL, its database is created if missing and used. When none answers, an
 * embedded PostgreSQL starts in a temporary folder, serves the run and is stopped and removed afterwards.
 */
import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { Client } from 'pg';
import { createDatabaseIfMissing, EmbeddedPostgres, withDatabaseName } from '../../src/database/embedded-postgres';
import { postgresFolder } from './fixtures';
import { ensureTestData } from './shared';
import { TEST_DATABASE_URL } from './test-database';

/** Errors that mean "no server there", as opposed to a server that refuses us. */
const NO_SERVER = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EADDRNOTAVAIL', 'ETIMEDOUT', 'EHOSTUNREACH']);

async function serverAnswers(url: string): Promise<boolean> {
  const client = new Client({ connectionString: withDatabaseName(url, 'postgres'), connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? '';
    if (NO_SERVER.has(code) || /timeout/i.test((err as Error).message)) return false;
    throw new Error(`the Postgres server at TEST_DATABASE_URL (${url}) refused the tests: ${(err as Error).message}`);
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function main(): Promise<number> {
  const [command, ...args] = process.argv.slice(2);
  if (!command) throw new Error('usage: with-test-database.js <command> [args…]');
  // Written once, before any test process looks for it.
  await ensureTestData();
  const database = decodeURIComponent(new URL(TEST_DATABASE_URL).pathname.slice(1));
  let url = TEST_DATABASE_URL;
  let embedded: EmbeddedPostgres | undefined;
  let folder: string | undefined;
  if (await serverAnswers(url)) {
    await createDatabaseIfMissing(withDatabaseName(url, 'postgres'), database);
  } else {
    folder = await postgresFolder();
    const started = Date.now();
    embedded = await new EmbeddedPostgres(path.join(folder, 'postgres')).start();
    await createDatabaseIfMissing(embedded.url, database);
    url = withDatabaseName(embedded.url, database);
    process.stderr.write(
      `no Postgres answers at TEST_DATABASE_URL (${TEST_DATABASE_URL}): the tests use an embedded PostgreSQL ` +
        `on 127.0.0.1:${embedded.port}, started in ${Date.now() - started} ms\n`,
    );
  }
  try {
    const child = spawn(command, args, { stdio: 'inherit', env: { ...process.env, TEST_DATABASE_URL: url } });
    const forward = (signal: NodeJS.Signals) => child.kill(signal);
    process.on('SIGINT', forward).on('SIGTERM', forward);
    return await new Promise<number>((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
    });
  } finally {
    await embedded?.stop();
    if (folder) await fs.rm(folder, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
