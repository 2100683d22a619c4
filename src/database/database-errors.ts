import { DatabaseError } from 'pg';
import { QueryFailedError } from 'typeorm';

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
