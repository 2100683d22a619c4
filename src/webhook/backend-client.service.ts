import { setTimeout as sleep } from 'node:timers/promises';
import { HttpService } from '@nestjs/axios';
import { Injectable, Logger, Optional } from '@nestjs/common';
import { isAxiosError } from 'axios';
import { AppConfig } from '../config/app-config';
import { MetricsService } from '../metrics/metrics.service';
import { deadline, egressRefusal, guardedRequest, pastDeadline, type EgressPolicy } from '../common/egress';
import { GraphqlError, graphqlResult } from '../common/graphql-answer';
import { completeTrainingForm, statusBody, type BackendStatus, type ModelFiles } from './backend-graphql';

/** Where to call the backend for one job, and with which token. */
export interface BackendTarget {
  webhookUrl: string;
  authToken: string;
  channelId: string;
  /** Where this job's requests may go. */
  policy: EgressPolicy;
  /** Cancels every request to this target, retries included (an attempt's ceiling). */
  signal?: AbortSignal;
}

/** The upload failed for good (after retries, or at once for an answer that retrying cannot change). */
export class UploadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UploadError';
  }
}

const STATUS_ATTEMPTS = 3;
const STATUS_RETRY_DELAY_MS = 500;

/** Writes to the backend: status webhooks (best effort) and the model upload (must succeed). */
@Injectable()
export class BackendClient {
  private readonly logger = new Logger(BackendClient.name);

  constructor(
    private readonly http: HttpService,
    private readonly config: AppConfig,
    @Optional() private readonly metrics?: MetricsService,
  ) {}

  /**
   * `updateTrainingStatus`. A failure is logged with its reason and retried a few times, but never thrown: a
   * missed status update must not fail a training.
   */
  async sendStatus(
    target: BackendTarget,
    status: BackendStatus,
    progress: number | null,
    error: string | null = null,
  ): Promise<boolean> {
    const body = statusBody(target.channelId, status, progress, error);
    for (let attempt = 1; attempt <= STATUS_ATTEMPTS && !target.signal?.aborted; attempt++) {
      try {
        const response = await this.http.axiosRef.post(target.webhookUrl, body, {
          headers: { Authorization: `Bearer ${target.authToken}`, 'Content-Type': 'application/json' },
          ...deadline(this.config.BACKEND_REQUEST_TIMEOUT_SECONDS * 1000, target.signal),
          validateStatus: () => true,
          ...guardedRequest(target.webhookUrl, target.policy),
        });
        if (response.status < 200 || response.status >= 300) throw new Error(`HTTP ${response.status}`);
        graphqlResult(response.data, 'updateTrainingStatus');
        return true;
      } catch (err) {
        if (target.signal?.aborted) break;
        const reason = describe(err, this.config.BACKEND_REQUEST_TIMEOUT_SECONDS);
        this.logger.warn(
          `status "${status}" ${progress ?? ''} for channel ${target.channelId} not accepted (attempt ${attempt}/${STATUS_ATTEMPTS}): ${reason}`,
        );
        if (attempt < STATUS_ATTEMPTS) {
          this.metrics?.webhookRetries.inc();
          await sleep(STATUS_RETRY_DELAY_MS * 2 ** (attempt - 1), undefined, { signal: target.signal }).catch(
            () => undefined,
          );
        }
      }
    }
    return false;
  }

  /**
   * `completeTraining` as a GraphQL multipart request. Network errors and 5xx are retried with backoff
   * (UPLOAD_ATTEMPTS, from UPLOAD_RETRY_DELAY_SECONDS doubling); GraphQL errors, other HTTP errors and a
   * `completeTraining` that is not `true` fail at once.
   */
  async uploadModel(target: BackendTarget, files: ModelFiles): Promise<void> {
    const attempts = this.config.UPLOAD_ATTEMPTS;
    for (let attempt = 1; ; attempt++) {
      let transient: boolean;
      let reason: string;
      try {
        const response = await this.http.axiosRef.post(
          target.webhookUrl,
          completeTrainingForm(target.channelId, files),
          {
            headers: { Authorization: `Bearer ${target.authToken}` },
            ...deadline(this.config.UPLOAD_TIMEOUT_SECONDS * 1000, target.signal),
            maxBodyLength: Infinity,
            validateStatus: () => true,
            ...guardedRequest(target.webhookUrl, target.policy),
          },
        );
        if (response.status >= 200 && response.status < 300) {
          const accepted = graphqlResult(response.data, 'completeTraining');
          if (accepted === true) return;
          throw new UploadError(`the backend answered completeTraining: ${JSON.stringify(accepted)}`);
        }
        transient = response.status >= 500 || response.status === 429;
        reason = `HTTP ${response.status}`;
      } catch (err) {
        target.signal?.throwIfAborted();
        if (err instanceof UploadError) throw err;
        const refused = egressRefusal(err);
        if (refused) throw new UploadError(`upload refused: ${refused.message}`);
        if (err instanceof GraphqlError) throw new UploadError(`the backend refused the upload: ${err.message}`);
        transient = true;
        reason = describe(err, this.config.UPLOAD_TIMEOUT_SECONDS);
      }
      if (!transient) throw new UploadError(`the backend refused the upload: ${reason}`);
      if (attempt >= attempts) throw new UploadError(`upload failed after ${attempts} attempts: ${reason}`);
      this.metrics?.uploadRetries.inc();
      this.logger.warn(
        `upload for channel ${target.channelId} failed (attempt ${attempt}/${attempts}): ${reason}; retrying`,
      );
      await sleep(this.config.UPLOAD_RETRY_DELAY_SECONDS * 1000 * 2 ** (attempt - 1), undefined, {
        signal: target.signal,
      });
    }
  }
}

/** A short reason without request details (which would carry the token). */
function describe(err: unknown, deadlineSeconds: number): string {
  if (pastDeadline(err)) return `timed out after ${deadlineSeconds} s`;
  if (isAxiosError(err)) return err.code ? `${err.code}${err.message ? ` (${err.message})` : ''}` : err.message;
  return err instanceof Error ? err.message : String(err);
}
