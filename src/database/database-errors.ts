/** Telling an unreachable database from a refused statement, and waiting for it to come back. */
import { DatabaseError } from 'pg';
import { QueryFailedError } from 'typeorm';
import { retry } from '../common/retry';

/**
 * True when an error means the database could not be reached (refused, cut off, shutting down, starting up), so
 * the same statement may succeed later; false for an answer the server gave about the statement itself.
 */
export function isDatabaseUnreachable(err: unknown): boolean {
  const cause = err instanceof QueryFailedError ? err.driverError : err;
  // SQLSTATE class 08 is connection exceptions; 57P01-57P03 are admin shutdown, crash shutdown, cannot connect now.
  if (cause instanceof DatabaseError) return /^(08|57P0[123])/.test(cause.code ?? '');
  return true;
}

/** How long a write that a job needs waits for an unreachable database before it is given up. */
export const DATABASE_PATIENCE_MS = 5 * 60_000;
const DATABASE_RETRY_MS = 2_000;

/**
 * A read or write a job cannot go on without (its outcome, its ownership): while the database is unreachable it is
 * retried every 2 s for up to `patienceMs`, so an outage delays the job instead of losing its result. `onWait` is told
 * of every failure that will be retried.
 */
export function untilDatabaseAnswers<T>(
  operation: () => Promise<T>,
  onWait: (err: unknown) => void,
  patienceMs = DATABASE_PATIENCE_MS,
): Promise<T> {
  return retry(operation, {
    attempts: Infinity,
    delayMs: DATABASE_RETRY_MS,
    fixedDelay: true,
    giveUpAfterMs: patienceMs,
    retryable: isDatabaseUnreachable,
    onRetry: onWait,
  });
}
