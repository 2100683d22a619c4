/** Test support: the service's HTTP API as the backend uses it. */
import type { FakeBackend } from './fake-backend';
import { SERVICE_TOKEN, waitFor } from './service-app';

export interface ApiAnswer {
  status: number;
  /** Parsed JSON, as loosely typed as the tests that read it. */
  body: any;
}

/** The service's HTTP API as the backend uses it, with the jobs pointed at a fake backend. */
export class ServiceApi {
  constructor(
    private readonly baseUrl: string,
    private readonly backend: FakeBackend,
  ) {}

  /** One request; `token` null sends none. The body is sent as JSON unless it is already a string. */
  async call(method: string, route: string, body?: unknown, token: string | null = SERVICE_TOKEN): Promise<ApiAnswer> {
    const response = await fetch(`${this.baseUrl}${route}`, {
      method,
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
      signal: AbortSignal.timeout(30_000),
    });
    const text = await response.text();
    return { status: response.status, body: text ? JSON.parse(text) : undefined };
  }

  /** POST /v1/train for a channel whose manifest, webhook and token are the fake backend's. */
  train(channelId: string, options: Record<string, unknown> = {}): Promise<ApiAnswer> {
    return this.call('POST', '/v1/train', {
      channelId,
      manifestUrl: this.backend.manifestUrl(channelId),
      webhookUrl: this.backend.webhookUrl,
      authToken: this.backend.token,
      ...options,
    });
  }

  async job(jobId: string): Promise<any> {
    return (await this.call('GET', `/v1/jobs/${jobId}`)).body;
  }

  /** The job once it has completed or failed. */
  finished(jobId: string, timeoutMs = 90_000) {
    return waitFor(
      `job ${jobId} to finish`,
      async () => {
        const job = await this.job(jobId);
        return job.state === 'completed' || job.state === 'failed' ? job : undefined;
      },
      timeoutMs,
    );
  }

  /** Resolves once the job runs and has made progress (photos are coming in). */
  running(jobId: string): Promise<true> {
    return waitFor(`job ${jobId} to be running`, async () => {
      const job = await this.job(jobId);
      return job.state === 'running' && job.progress > 0 ? true : undefined;
    });
  }
}
