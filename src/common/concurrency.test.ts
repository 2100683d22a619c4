/** Unit tests of the concurrency helpers: a gate's limit and order, and one load shared while it runs. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { concurrencyLimit } from './concurrency';
import { cachedPromise } from './promise-cache';

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('concurrencyLimit', () => {
  it('runs at most `limit` tasks at once, the rest in the order they came, also past a failure', async () => {
    const gate = concurrencyLimit(2);
    let inFlight = 0;
    let most = 0;
    const started: number[] = [];
    const task = (i: number) => async () => {
      started.push(i);
      most = Math.max(most, ++inFlight);
      await tick();
      inFlight--;
      if (i === 1) throw new Error('task 1 failed');
      return i;
    };
    const outcomes = await Promise.allSettled(Array.from({ length: 7 }, (_, i) => gate(task(i))));
    assert.equal(most, 2);
    assert.deepEqual(started, [0, 1, 2, 3, 4, 5, 6]);
    assert.equal(outcomes.filter((o) => o.status === 'rejected').length, 1);
    assert.equal(await gate(async () => 'after'), 'after', 'a failure hands its turn on');
  });
});

describe('cachedPromise', () => {
  it('keeps a resolved load; while-running shares one load among callers at once, then loads afresh', async () => {
    let loads = 0;
    const load = async () => ++loads;
    const kept = new Map<string, Promise<number>>();
    assert.deepEqual(await Promise.all([cachedPromise(kept, 'a', load), cachedPromise(kept, 'a', load)]), [1, 1]);
    assert.equal(await cachedPromise(kept, 'a', load), 1);
    const running = new Map<string, Promise<number>>();
    const together = [1, 2, 3].map(() => cachedPromise(running, 'a', load, 'while-running'));
    assert.deepEqual(await Promise.all(together), [2, 2, 2]);
    await tick();
    assert.equal(running.size, 0);
    assert.equal(await cachedPromise(running, 'a', load, 'while-running'), 3);
  });

  it('forgets a load that failed, so the next call tries again', async () => {
    const map = new Map<string, Promise<number>>();
    await assert.rejects(
      cachedPromise(map, 'a', async () => Promise.reject(new Error('down'))),
      /down/,
    );
    await tick();
    assert.equal(await cachedPromise(map, 'a', async () => 7), 7);
  });
});
