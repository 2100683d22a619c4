/** The one retry loop: every outside call that is worth another try (backend, photos, the database) goes through it. */
import { setTimeout as sleep } from 'node:timers/promises';

export interface RetryOptions {
  /** Most attempts, the first included. */
  attempts: number;
  /** Wait before the second attempt; it doubles after each failure unless `fixedDelay`. */
  delayMs: number;
  fixedDelay?: boolean;
  /** No new attempt starts once a wait would end later than this many ms after the first attempt began. */
  giveUpAfterMs?: number;
  /** Whether a failure is worth another attempt (default: every one). A failure that is not is thrown at once. */
  retryable?: (err: unknown) => boolean;
  /** Told of every failure that will be retried, before the wait. */
  onRetry?: (err: unknown, attempt: number) => void;
  /** Ends the retries: the signal's reason is thrown instead of waiting or trying again. */
  signal?: AbortSignal;
}

/** Runs `attempt(n)` (n from 1) until it succeeds; the last failure is thrown as it is. */
export async function retry<T>(attempt: (n: number) => Promise<T>, options: RetryOptions): Promise<T> {
  const started = Date.now();
  for (let n = 1; ; n++) {
    options.signal?.throwIfAborted();
    try {
      return await attempt(n);
    } catch (err) {
      options.signal?.throwIfAborted();
      const delay = options.fixedDelay ? options.delayMs : options.delayMs * 2 ** (n - 1);
      const tooLate = options.giveUpAfterMs !== undefined && Date.now() + delay - started > options.giveUpAfterMs;
      if (n >= options.attempts || tooLate || !(options.retryable?.(err) ?? true)) throw err;
      options.onRetry?.(err, n);
      await sleep(delay, undefined, { signal: options.signal }).catch(() => options.signal?.throwIfAborted());
    }
  }
}
