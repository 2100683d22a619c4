/** Unit tests of the retry helper. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { retry } from './retry';

describe('retry', () => {
  it('tries again after a doubling wait until it succeeds, telling onRetry of each failure', async () => {
    const told: number[] = [];
    const starts: number[] = [];
    const value = await retry(
      async (n) => {
        starts.push(Date.now());
        if (n < 3) throw new Error(`failure ${n}`);
        return 'done';
      },
      { attempts: 5, delayMs: 20, onRetry: (_err, n) => told.push(n) },
    );
    assert.equal(value, 'done');
    assert.deepEqual(told, [1, 2]);
    assert.ok(
      starts[1] - starts[0] >= 18 && starts[2] - starts[1] >= 38,
      `waits ${starts[1] - starts[0]}, ${starts[2] - starts[1]}`,
    );
  });

  it('throws the last failure after the last attempt, and a failure that is not retryable at once', async () => {
    let calls = 0;
    await assert.rejects(
      retry(
        async (n) => {
          calls++;
          throw new Error(`failure ${n}`);
        },
        { attempts: 3, delayMs: 1 },
      ),
      /failure 3/,
    );
    assert.equal(calls, 3);
    calls = 0;
    await assert.rejects(
      retry(
        async () => {
          calls++;
          throw new Error('permanent');
        },
        { attempts: 3, delayMs: 1, retryable: (err) => (err as Error).message !== 'permanent' },
      ),
      /permanent/,
    );
    assert.equal(calls, 1);
  });

  it('gives up once a wait would end past giveUpAfterMs', async () => {
    let calls = 0;
    await assert.rejects(
      retry(
        async () => {
          calls++;
          throw new Error('down');
        },
        { attempts: 100, delayMs: 30, fixedDelay: true, giveUpAfterMs: 100 },
      ),
      /down/,
    );
    assert.ok(calls >= 3 && calls <= 4, `${calls} attempts`);
  });

  it('stops waiting when its signal aborts, with the signal’s reason', async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error('the job ended')), 30);
    const started = Date.now();
    await assert.rejects(
      retry(
        async () => {
          throw new Error('down');
        },
        { attempts: 5, delayMs: 10_000, signal: controller.signal },
      ),
      /the job ended/,
    );
    assert.ok(Date.now() - started < 1000);
  });
});
