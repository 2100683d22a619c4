/** Unit tests of which channels are due to train. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decide, type ChannelState } from './eligibility';

const NOW = new Date('2026-11-27T12:00:00Z');
const hoursAgo = (h: number) => new Date(NOW.getTime() - h * 3_600_000);
const channel = (state: Partial<ChannelState>): ChannelState => ({
  channelId: '1',
  queuedAt: hoursAgo(1),
  lastTrainedAt: null,
  status: 'idle',
  progress: 0,
  error: null,
  lastJobId: null,
  updatedAt: null,
  ...state,
});

describe('scheduler eligibility', () => {
  const cases: [string, Partial<ChannelState>, boolean, boolean, RegExp][] = [
    ['queued, never trained', {}, false, true, /never trained/],
    ['not queued', { queuedAt: null }, false, false, /not queued/],
    [
      'cooldown: trained 1 ms less than 4 h ago',
      { lastTrainedAt: new Date(hoursAgo(4).getTime() + 1) },
      false,
      false,
      /cooldown/,
    ],
    [
      'cooldown: trained exactly 4 h ago (due at the boundary)',
      { lastTrainedAt: hoursAgo(4) },
      false,
      true,
      /cooldown over/,
    ],
    [
      'cooldown: trained 4 h + 1 ms ago',
      { lastTrainedAt: new Date(hoursAgo(4).getTime() - 1) },
      false,
      true,
      /cooldown over/,
    ],
    [
      'cooldown: trained 10 minutes ago',
      { lastTrainedAt: hoursAgo(1 / 6) },
      false,
      false,
      /due at 2026-11-27T15:50:00.000Z/,
    ],
    ['status training', { status: 'training' }, false, false, /status is training/],
    [
      'a job queued or running',
      { status: 'active', lastTrainedAt: hoursAgo(9) },
      true,
      false,
      /already queued or running/,
    ],
    ['failed last time, queued again', { status: 'failed', lastTrainedAt: hoursAgo(30) }, false, true, /cooldown over/],
  ];
  for (const [name, state, hasJob, expected, reason] of cases) {
    it(name, () => {
      const decision = decide(channel(state), NOW, 4, hasJob);
      assert.equal(decision.start, expected);
      assert.match(decision.reason, reason);
    });
  }

  it('takes the cooldown from its argument', () => {
    assert.equal(decide(channel({ lastTrainedAt: hoursAgo(2) }), NOW, 1, false).start, true);
    assert.equal(decide(channel({ lastTrainedAt: hoursAgo(2) }), NOW, 3, false).start, false);
  });
});
