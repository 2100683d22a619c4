/** Where channels' training state lives (our table or the backend's), behind one interface. */
import type { ChannelState } from './eligibility';

/**
 * Where channels' training state lives: our own table, or the backend's `channel` table (Vendure custom fields).
 * Both keep the same rules; the scheduler and the job lifecycle only talk to this interface.
 */
export abstract class ChannelStateStore {
  abstract list(): Promise<ChannelState[]>;
  abstract get(channelId: string): Promise<ChannelState | null>;
  /** Channels with `queuedAt` set, oldest first. */
  abstract listQueued(): Promise<ChannelState[]>;
  /** Marks a channel queued; an already queued channel keeps its first `queuedAt`. Null for an unknown channel. */
  abstract markQueued(channelId: string): Promise<ChannelState | null>;
  /** Clears `queuedAt` only if it is still `queuedAt` (a newer mark by the backend is kept). */
  abstract clearQueued(channelId: string, queuedAt: Date): Promise<void>;
  abstract jobStarted(channelId: string, jobId: string): Promise<void>;
  abstract jobProgress(channelId: string, progress: number): Promise<void>;
  /** `active`, `lastTrainedAt` now, `queuedAt` cleared unless the channel was queued again after `jobCreatedAt`. */
  abstract jobSucceeded(channelId: string, jobId: string, jobCreatedAt: Date): Promise<void>;
  abstract jobFailed(channelId: string, jobId: string, error: string): Promise<void>;
}
