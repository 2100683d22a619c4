/** Unit tests of request validation helpers. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { nestsDeeperThan } from './validation';

describe('request body depth', () => {
  it('counts arrays and objects, not strings, without recursing', () => {
    const nested = (depth: number): unknown => (depth === 0 ? 'x' : [{ a: nested(depth - 1) }]);
    assert.equal(nestsDeeperThan({ channelId: '1', list: [1, 2] }, 2), false);
    assert.equal(nestsDeeperThan(nested(2), 4), false, '4 levels: [ { [ { } ] } ]');
    assert.equal(nestsDeeperThan(nested(2), 3), true);
    assert.equal(nestsDeeperThan('plain', 0), false);
    let deep: unknown = 'x';
    for (let i = 0; i < 100_000; i++) deep = [deep];
    assert.equal(nestsDeeperThan(deep, 32), true);
  });
});
