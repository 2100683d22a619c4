/** The jobId and channelId every log line of a job carries (AsyncLocalStorage). */
import { PinoLogger } from 'nestjs-pino';
import { storage, Store } from 'nestjs-pino/storage';

/** Fields every log line of one job carries. */
export interface JobLogFields {
  jobId: string;
  channelId: string;
}

/**
 * Runs `work` with `fields` bound to every log line written inside it, however deep (Nest's Logger writes through
 * nestjs-pino, which takes the logger of the current async context). Without the JSON logger (the CLI, tests that
 * keep Nest's console logger) it just runs `work`.
 */
export function withLogContext<T>(fields: JobLogFields, work: () => T): T {
  const parent = storage.getStore()?.logger ?? PinoLogger.root;
  if (!parent) return work();
  return storage.run(new Store(parent.child(fields)), work);
}
