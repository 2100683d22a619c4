/** Test support: the service as its own process (src/demo/service-process.ts) with the tests' settings. */
import { ServiceProcess } from '../../src/demo/service-process';
import { testEnv } from './service-app';

/** How long a test waits for a service process to answer /health. */
const START_TIMEOUT_MS = 30_000;

/** The service as its own process, on the tests' database and folders under `dir`, for tests that kill it. */
export class TestServiceProcess extends ServiceProcess {
  constructor(dir: string, env: Record<string, string>, logFile: string) {
    super({ ...process.env, ...testEnv(dir, env) }, logFile);
  }

  override start(): Promise<this> {
    return super.start(START_TIMEOUT_MS);
  }
}
