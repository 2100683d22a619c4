/** The worker pool's cancellation, on real ONNX Runtime work: a cancelled task is answered at once and ends itself. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { toySet } from '../../../test/support/toy-embeddings';
import { DEFAULT_RECIPE } from '../recipe';
import { MlWorkerPool } from './ml-worker-pool';

describe('the worker pool', () => {
  it('answers a cancelled fit at once and lets it stop itself: its thread is never stopped inside ONNX Runtime', async () => {
    // One worker: the next fit runs only once the cancelled one has freed the thread.
    const pool = new MlWorkerPool({ workers: 1, backend: 'auto' });
    try {
      // 16,000 rows and 800 products: each product with the rows takes a few hundred milliseconds in ONNX Runtime,
      // and the cancel comes 300 ms into the second iteration, inside one. Stopping the thread there aborted the
      // whole process, this test's with it (SIGABRT, "terminate called after throwing an instance of 'Napi::Error'":
      // 3 runs of 3 with the pool of before).
      const large = toySet(800, 10);
      const controller = new AbortController();
      let cancelling: NodeJS.Timeout | undefined;
      const cancel = () => {
        cancelling ??= setTimeout(() => controller.abort(new Error('the job was cancelled')), 300);
      };
      const started = performance.now();
      const cancelled = pool.trainHead({ data: large, recipe: DEFAULT_RECIPE }, cancel, controller.signal);
      await assert.rejects(cancelled, (err: Error) =>
        [err.message, String(err.cause)].some((m) => /the job was cancelled/.test(m)),
      );
      const answeredIn = performance.now() - started;
      const next = await pool.trainHead({ data: toySet(3, 6), recipe: DEFAULT_RECIPE });
      assert.equal(next.weights.classCount, 3);
      // The whole fit takes some 13 s: the cancelled one stopped at its next evaluation (one takes about 0.8 s).
      const freedIn = performance.now() - started;
      assert.ok(freedIn < answeredIn + 3000, `cancelled at ${answeredIn} ms, the next fit done at ${freedIn} ms`);
    } finally {
      await pool.destroy();
    }
  });
});
