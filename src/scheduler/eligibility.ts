/** A channel's training state, wherever it is kept (our table or the backend's channel table). */
export interface ChannelState {
  channelId: string;
  queuedAt: Date | null;
  lastTrainedAt: Date | null;
  status: ChannelStatus;
  progress: number | null;
  error: string | null;
  lastJobId: string | null;
  updatedAt: Date | null;
}

export const CHANNEL_STATUSES = ['idle', 'training', 'active', 'failed'] as const;
export type ChannelStatus = (typeof CHANNEL_STATUSES)[number];

export type Decision = { start: true; reason: string } | { start: false; reason: string };

/**
 * Whether a tick starts a training for this channel now. Pure: the clock and the job lookup are passed in.
 * - not queued: nothing to do;
 * - trained less than `cooldownHours` ago: wait (exactly at the boundary it is due);
 * - already training, or a job queued or running: wait;
 * - otherwise: start.
 */
export function decide(channel: ChannelState, now: Date, cooldownHours: number, hasActiveJob: boolean): Decision {
  if (!channel.queuedAt) return { start: false, reason: 'not queued' };
  if (channel.lastTrainedAt) {
    const dueAt = channel.lastTrainedAt.getTime() + cooldownHours * 3_600_000;
    if (dueAt > now.getTime()) {
      return {
        start: false,
        reason: `cooldown: last trained ${channel.lastTrainedAt.toISOString()}, due at ${new Date(dueAt).toISOString()}`,
      };
    }
  }
  if (channel.status === 'training') return { start: false, reason: 'status is training' };
  if (hasActiveJob) return { start: false, reason: 'a job is already queued or running' };
  return {
    start: true,
    reason: channel.lastTrainedAt
      ? `queued since ${channel.queuedAt.toISOString()}, cooldown over`
      : `queued since ${channel.queuedAt.toISOString()}, never trained`,
  };
}
