/** BackendClient without a network: it answers with the manifest given and records every status and upload. */
import type { BackendClient, BackendTarget } from '../../src/backend/backend-client.service';
import type { BackendStatus, ModelFiles } from '../../src/backend/backend-contract';
import type { PublicOf } from './public';

export interface SentStatus {
  channelId: string;
  status: BackendStatus;
  progress: number | null;
  error: string | null;
}

export class FakeBackendClient implements PublicOf<BackendClient> {
  readonly statuses: SentStatus[] = [];
  readonly uploads: { channelId: string; files: ModelFiles }[] = [];
  manifestRequests = 0;
  /** Thrown by the next upload(s), then cleared, unless `keepFailing`. */
  uploadError?: Error;
  keepFailing = false;
  /** Thrown by fetchManifest when set. */
  manifestError?: Error;

  constructor(public manifest: unknown = { channelId: 'c1', version: '1', products: [] }) {}

  async fetchManifest(_manifestUrl: string, target: Pick<BackendTarget, 'signal'>): Promise<unknown> {
    target.signal?.throwIfAborted();
    this.manifestRequests++;
    if (this.manifestError) throw this.manifestError;
    return this.manifest;
  }

  async sendStatus(
    target: BackendTarget,
    status: BackendStatus,
    progress: number | null,
    error: string | null = null,
  ): Promise<boolean> {
    if (target.signal?.aborted) return false;
    this.statuses.push({ channelId: target.channelId, status, progress, error });
    return true;
  }

  async uploadModel(target: BackendTarget, files: ModelFiles): Promise<void> {
    target.signal?.throwIfAborted();
    const error = this.uploadError;
    if (error) {
      if (!this.keepFailing) this.uploadError = undefined;
      throw error;
    }
    this.uploads.push({ channelId: target.channelId, files });
  }

  /** The `training` progress values sent, in order. */
  progressSent(): number[] {
    return this.statuses.filter((s) => s.status === 'training').map((s) => s.progress ?? -1);
  }
}
