/** Test support: the service as a Nest app in the test process, with test settings. */
import type { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { AppModule } from '../../src/app.module';
import { AppConfig, loadConfig } from '../../src/config/app-config';
import { configureHttp } from '../../src/http-setup';
import { BASE_MODEL_JSON, NO_GROCERY_DATASET } from './shared';
import { TEST_DATABASE_URL } from './test-database';

export const SERVICE_TOKEN = 'test-service-token-0123456789';

/** Settings for tests: the shared base model, fast polling and retries, private folders under `dir`. */
export function testEnv(dir: string, env: Record<string, string> = {}): Record<string, string> {
  return {
    DATABASE_URL: TEST_DATABASE_URL,
    ML_SERVICE_TOKEN: SERVICE_TOKEN,
    BASE_MODEL_URL: BASE_MODEL_JSON,
    MODEL_CACHE_DIR: `${dir}/cache`,
    GROCERY_DATASET_URL: NO_GROCERY_DATASET,
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

/** Polls every `everyMs` until `check` returns a value, or fails after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined>,
  timeoutMs = 60_000,
  everyMs = 200,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}
