/** The deadline and size cap of every manifest download (the backend's, the CLI's --manifest URL), and its errors. */
import { answerTooLarge, deadline, pastDeadline } from '../common/egress';
import type { AppConfig } from '../config/app-config';
import { DatasetError, ManifestUnavailableError } from './dataset.types';

type ManifestSettings = Pick<AppConfig, 'BACKEND_REQUEST_TIMEOUT_SECONDS' | 'MANIFEST_MAX_BYTES'>;

/** axios options: a whole-request deadline and the size cap. */
export function manifestLimits(config: ManifestSettings, cancel?: AbortSignal) {
  return {
    ...deadline(config.BACKEND_REQUEST_TIMEOUT_SECONDS * 1000, cancel),
    maxContentLength: config.MANIFEST_MAX_BYTES,
  };
}

/** A manifest over the size cap is final (the same manifest comes back); a deadline or network error is not. */
export function manifestFailure(url: string, err: unknown, config: ManifestSettings): Error {
  if (answerTooLarge(err)) {
    return new DatasetError(
      `the manifest from ${url} is larger than MANIFEST_MAX_BYTES (${config.MANIFEST_MAX_BYTES} bytes)`,
    );
  }
  if (pastDeadline(err)) {
    return new ManifestUnavailableError(
      `manifest request to ${url} timed out after ${config.BACKEND_REQUEST_TIMEOUT_SECONDS} s`,
    );
  }
  const code = (err as { code?: string }).code;
  return new ManifestUnavailableError(`manifest request to ${url} failed: ${code ?? (err as Error).message}`);
}
