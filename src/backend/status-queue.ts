/** A job's progress webhooks, sent one at a time in order without making the job wait for them. */
import type { BackendClient, BackendTarget } from './backend-client.service';

/**
 * Updates that pile up while one is being sent (or retried) collapse into the latest, so a slow backend delays the
 * job by at most one.
 */
export class StatusQueue {
  private latest: number | undefined;
  private sending: Promise<void> | undefined;

  constructor(
    private readonly backend: BackendClient,
    /** Once its signal is aborted, nothing more is sent. */
    private readonly target: BackendTarget,
  ) {}

  send(progress: number): void {
    if (this.target.signal?.aborted) return;
    this.latest = progress;
    this.sending ??= this.sendLatest();
  }

  async drain(): Promise<void> {
    await this.sending;
  }

  private async sendLatest(): Promise<void> {
    while (this.latest !== undefined && !this.target.signal?.aborted) {
      const progress = this.latest;
      this.latest = undefined;
      await this.backend.sendStatus(this.target, 'training', progress);
    }
    this.sending = undefined;
  }
}
