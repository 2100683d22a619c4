/** The point-of-sale backend's client: manifest, status webhooks and upload, each with its deadline and retries. */
import { HttpService } from '@nestjs/axios';
import { Injectable, Logger, Optional } from '@nestjs/common';
import { isAxiosError } from 'axios';
import { AppConfig } from '../config/app-config';
import { MetricsService } from '../metrics/metrics.service';
import {
  answerTooLarge,
  deadline,
  egressRefusal,
  guardedRequest,
  pastDeadline,
  type EgressPolicy,
} from '../common/egress';
import { DatasetError, ManifestUnavailableError } from '../dataset/dataset.types';
import { manifestFailure, manifestLimits } from '../dataset/manifest-limits';
import {
  completeTrainingForm,
  GraphqlError,
  graphqlResult,
  manifestRequest,
  queryWithoutScans,
  statusBody,
  type BackendStatus,
  type ModelFiles,
} from './backend-contract';
import { FinalError, TrainerError } from '../common/errors';
import { retry } from '../common/retry';

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

/** The backend refused a request as such (401 or 403): the same request gets the same answer. */
class BackendRefusalError extends TrainerError {}

/** The upload failed for good (after retries, or at once for an answer that retrying cannot change). */
export class UploadError extends FinalError {}

/**
 * The backend answered the upload with success but an answer that cannot be read: it may have stored the model. Not
 * final: the job's next attempt uploads the same kept model again (same trainingId), which the backend accepts.
 */
export class UploadOutcomeUnknownError extends TrainerError {}

/**
 * The largest answer read from the backend to a status or an upload (a few hundred bytes of GraphQL): a longer one
 * is cut off as it arrives, never held (a 3,000 MB answer once took the process down).
 */
export const MAX_BACKEND_ANSWER_BYTES = 64 * 1024;

const STATUS_ATTEMPTS = 3;
const STATUS_RETRY_DELAY_MS = 500;

/**
 * Everything the service says to the point-of-sale backend: the manifest query, status webhooks (best effort) and
 * the model upload (must succeed).
 */
@Injectable()
export class BackendClient {
  private readonly logger = new Logger(BackendClient.name);

  constructor(
    private readonly http: HttpService,
    private readonly config: AppConfig,
    @Optional() private readonly metrics?: MetricsService,
  ) {}

  /**
   * Asks the backend for a channel's manifest: the manifest URL's GraphQL query, POSTed with the job's token.
   * GraphQL errors (which arrive with HTTP 200) are final; network errors and 5xx may pass, so they are retryable. A
   * backend whose schema has no `scans` yet refuses a query that asks for them: it is asked once more without.
   */
  async fetchManifest(
    manifestUrl: string,
    target: Pick<BackendTarget, 'authToken' | 'policy' | 'signal'>,
  ): Promise<unknown> {
    const { endpoint, query } = manifestRequest(manifestUrl);
    try {
      try {
        return await this.queryManifest(endpoint, query, target);
      } catch (err) {
        // A backend that does not send the till's scans yet: asked again without them.
        const older = err instanceof GraphqlError ? queryWithoutScans(query, err.message) : null;
        if (!older) throw err;
        this.logger.log(`the backend at ${endpoint} does not send the till's scans: manifest asked without them`);
        return await this.queryManifest(endpoint, older, target);
      }
    } catch (err) {
      if (err instanceof GraphqlError) throw new DatasetError(`the backend refused the manifest: ${err.message}`);
      throw err;
    }
  }

  private async queryManifest(
    endpoint: string,
    query: string,
    target: Pick<BackendTarget, 'authToken' | 'policy' | 'signal'>,
  ): Promise<unknown> {
    let response: { status: number; data: unknown };
    try {
      response = await this.http.axiosRef.post(
        endpoint,
        { query },
        {
          headers: { Authorization: `Bearer ${target.authToken}`, 'Content-Type': 'application/json' },
          validateStatus: () => true,
          ...manifestLimits(this.config, target.signal),
          ...guardedRequest(endpoint, target.policy),
        },
      );
    } catch (err) {
      const refused = egressRefusal(err);
      if (refused) throw new DatasetError(`manifest request refused: ${refused.message}`);
      throw manifestFailure(endpoint, err, this.config);
    }
    if (response.status >= 500 || response.status === 429) {
      throw new ManifestUnavailableError(`manifest request to ${endpoint} failed: HTTP ${response.status}`);
    }
    if (response.status >= 400)
      throw new DatasetError(`manifest request to ${endpoint} was refused: HTTP ${response.status}`);
    const manifest = graphqlResult(response.data, 'mlTrainingManifest');
    if (manifest === null) throw new DatasetError('the backend returned no manifest for this channel');
    return manifest;
  }

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
    const warn = (err: unknown, attempt: number) =>
      this.logger.warn(
        `status "${status}" ${progress ?? ''} for channel ${target.channelId} not accepted (attempt ${attempt}/${STATUS_ATTEMPTS}): ${describe(err, this.config.BACKEND_REQUEST_TIMEOUT_SECONDS)}`,
      );
    let attempt = 1;
    try {
      await retry(
        async () => {
          const response = await this.http.axiosRef.post(target.webhookUrl, body, {
            headers: { Authorization: `Bearer ${target.authToken}`, 'Content-Type': 'application/json' },
            ...deadline(this.config.BACKEND_REQUEST_TIMEOUT_SECONDS * 1000, target.signal),
            maxContentLength: MAX_BACKEND_ANSWER_BYTES,
            validateStatus: () => true,
            ...guardedRequest(target.webhookUrl, target.policy),
          });
          if (response.status === 401 || response.status === 403)
            throw new BackendRefusalError(`HTTP ${response.status}`);
          if (response.status < 200 || response.status >= 300) throw new Error(`HTTP ${response.status}`);
          graphqlResult(response.data, 'updateTrainingStatus');
        },
        {
          attempts: STATUS_ATTEMPTS,
          delayMs: STATUS_RETRY_DELAY_MS,
          signal: target.signal,
          // The backend's own answer (a GraphQL error such as an invalid token, or 401/403) comes again: not retried.
          retryable: (err) => !(err instanceof GraphqlError || err instanceof BackendRefusalError),
          onRetry: (err) => {
            warn(err, attempt++);
            this.metrics?.webhookRetries.inc();
          },
        },
      );
      return true;
    } catch (err) {
      if (!target.signal?.aborted) warn(err, attempt);
      return false;
    }
  }

  /**
   * `completeTraining` as a GraphQL multipart request. Network errors and 5xx are retried with backoff
   * (UPLOAD_ATTEMPTS, from UPLOAD_RETRY_DELAY_SECONDS doubling); GraphQL errors, other HTTP errors and a
   * `completeTraining` that is not `true` fail at once.
   */
  async uploadModel(target: BackendTarget, files: ModelFiles): Promise<void> {
    const attempts = this.config.UPLOAD_ATTEMPTS;
    try {
      await retry(() => this.uploadOnce(target, files), {
        attempts,
        delayMs: this.config.UPLOAD_RETRY_DELAY_SECONDS * 1000,
        signal: target.signal,
        retryable: (err) => !(err instanceof UploadError),
        onRetry: (err, attempt) => {
          this.metrics?.uploadRetries.inc();
          this.logger.warn(
            `upload for channel ${target.channelId} failed (attempt ${attempt}/${attempts}): ${(err as Error).message}; retrying`,
          );
        },
      });
    } catch (err) {
      if (err instanceof UploadError || err instanceof UploadOutcomeUnknownError || target.signal?.aborted) throw err;
      throw new UploadError(`upload failed after ${attempts} attempts: ${(err as Error).message}`);
    }
  }

  /** One upload attempt: an UploadError when retrying cannot change the answer, a plain Error with the reason if it may. */
  private async uploadOnce(target: BackendTarget, files: ModelFiles): Promise<void> {
    try {
      const response = await this.http.axiosRef.post(target.webhookUrl, completeTrainingForm(target.channelId, files), {
        headers: { Authorization: `Bearer ${target.authToken}` },
        ...deadline(this.config.UPLOAD_TIMEOUT_SECONDS * 1000, target.signal),
        maxBodyLength: Infinity,
        maxContentLength: MAX_BACKEND_ANSWER_BYTES,
        validateStatus: () => true,
        ...guardedRequest(target.webhookUrl, target.policy),
      });
      if (response.status >= 200 && response.status < 300) {
        if (typeof response.data !== 'object' || response.data === null)
          throw new UploadOutcomeUnknownError(
            `the backend answered the upload with HTTP ${response.status} and a body that is not JSON: it may have ` +
              `stored the model, which is kept and uploaded again`,
          );
        const accepted = graphqlResult(response.data, 'completeTraining');
        if (accepted === true) return;
        throw new UploadError(`the backend answered completeTraining: ${JSON.stringify(accepted)}`);
      }
      if (response.status >= 500 || response.status === 429) throw new Error(`HTTP ${response.status}`);
      throw new UploadError(`the backend refused the upload: HTTP ${response.status}`);
    } catch (err) {
      if (err instanceof UploadError || err instanceof UploadOutcomeUnknownError) throw err;
      const refused = egressRefusal(err);
      if (refused) throw new UploadError(`upload refused: ${refused.message}`);
      if (err instanceof GraphqlError) throw new UploadError(`the backend refused the upload: ${err.message}`);
      throw new Error(describe(err, this.config.UPLOAD_TIMEOUT_SECONDS));
    }
  }
}

/** A short reason without request details (which would carry the token). */
function describe(err: unknown, deadlineSeconds: number): string {
  if (pastDeadline(err)) return `timed out after ${deadlineSeconds} s`;
  if (answerTooLarge(err)) return `the answer was longer than ${MAX_BACKEND_ANSWER_BYTES} bytes (cut off)`;
  if (isAxiosError(err)) return err.code ? `${err.code}${err.message ? ` (${err.message})` : ''}` : err.message;
  return err instanceof Error ? err.message : String(err);
}
