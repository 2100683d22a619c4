import type { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { Client } from 'pg';
import { AppModule } from '../../src/app.module';
import { AppConfig, loadConfig } from '../../src/config/app-config';
import { configureHttp } from '../../src/http-setup';
import { BASE_MODEL_JSON } from './shared';

/** The test database (created by .ci/run); every suite starts from an empty one. */
export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/ml_trainer_test';
export const SERVICE_TOKEN = 'test-service-token-0123456789';

/** Settings for tests: the shared base model, fast polling and retries, private folders under `dir`. */
export function testEnv(dir: string, env: Record<string, string> = {}): Record<string, string> {
  return {
    DATABASE_URL: TEST_DATABASE_URL,
    ML_SERVICE_TOKEN: SERVICE_TOKEN,
    BASE_MODEL_URL: BASE_MODEL_JSON,
    MODEL_CACHE_DIR: `${dir}/cache`,
    WORK_DIR: `${dir}/work`,
    TRAINING_WORKERS: '2',
    QUEUE_POLL_SECONDS: '1',
    JOB_RETRY_DELAY_SECONDS: '1',
    UPLOAD_RETRY_DELAY_SECONDS: '0',
    SCHEDULER_ENABLED: 'false',
    SHUTDOWN_GRACE_SECONDS: '10',
    LOG_LEVEL: 'warn',
    ...env,
  };
}

export interface RunningService {
  app: INestApplication;
  url: string;
  config: AppConfig;
}

/** The whole HTTP service in this process, listening on a free loopback port. */
export async function startService(dir: string, env: Record<string, string> = {}): Promise<RunningService> {
  const config = loadConfig(testEnv(dir, env));
  const moduleRef = await Test.createTestingModule({ imports: [AppModule] })
    .overrideProvider(AppConfig)
    .useValue(config)
    .compile();
  const app = moduleRef.createNestApplication({ bodyParser: false, logger: ['error', 'warn'] });
  configureHttp(app);
  await app.listen(0, '127.0.0.1');
  return { app, url: (await app.getUrl()).replace('[::1]', '127.0.0.1'), config };
}

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

/** Polls until `check` returns a value, or fails after `timeoutMs`. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
