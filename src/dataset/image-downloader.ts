/** Downloads one photo to a file within size, time and egress limits, with retries. */
import { createWriteStream, promises as fs } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';
import { isAxiosError } from 'axios';
// The ESM typings, as @nestjs/axios hands out an instance typed by them.
import type { AxiosInstance } from 'axios' with { 'resolution-mode': 'import' };
import { deadline, egressRefusal, guardedRequest, MAX_REDIRECTS, type EgressPolicy } from '../common/egress';
import { formatBySignature, MAX_IMAGE_BYTES, SIGNATURE_BYTES } from './preprocess';
import { TrainerError } from '../common/errors';
import { retry } from '../common/retry';

export interface DownloadOptions {
  /** Whole-request deadline, body included: a server that trickles bytes is cut off. */
  timeoutMs: number;
  maxBytes: number;
  attempts: number;
  /** First retry waits this long, then twice as long each time. */
  backoffMs: number;
  /** Ends the download (and its retries) at once: the job it is for has stopped. */
  cancel?: AbortSignal;
}

export const DEFAULT_DOWNLOAD_OPTIONS: DownloadOptions = {
  timeoutMs: 30_000,
  maxBytes: MAX_IMAGE_BYTES,
  attempts: 3,
  backoffMs: 500,
};

/** A photo that could not be fetched; `reason` is short and safe to report (no headers, no tokens). */
export class DownloadError extends TrainerError {
  constructor(
    readonly reason: string,
    readonly retryable: boolean,
  ) {
    super(reason);
  }
}

/**
 * Downloads one public photo URL to `file` (no credentials sent), retrying network errors and 5xx with backoff, and
 * returns its size.
 * Stops reading past `maxBytes`, or at the first bytes when they announce no accepted image format. The content is not
 * trusted: the decoder checks it again.
 */
export async function downloadToFile(
  http: AxiosInstance,
  url: string,
  file: string,
  options: DownloadOptions = DEFAULT_DOWNLOAD_OPTIONS,
  policy?: EgressPolicy,
): Promise<number> {
  let guard: ReturnType<typeof guardedRequest> | undefined;
  try {
    guard = policy ? guardedRequest(url, policy) : undefined;
  } catch (err) {
    throw new DownloadError(`refused: ${(err as Error).message}`, false);
  }
  let attempts = 0;
  try {
    return await retry(
      async (n) => {
        attempts = n;
        try {
          return await downloadOnce(http, url, file, options, guard);
        } catch (err) {
          await fs.rm(file, { force: true });
          throw err instanceof DownloadError ? err : classify(err, options);
        }
      },
      {
        attempts: options.attempts,
        delayMs: options.backoffMs,
        signal: options.cancel,
        retryable: (err) => err instanceof DownloadError && err.retryable,
      },
    );
  } catch (err) {
    if (!(err instanceof DownloadError) || options.cancel?.aborted) throw err;
    throw new DownloadError(attempts > 1 ? `${err.reason} (after ${attempts} attempts)` : err.reason, false);
  }
}

async function downloadOnce(
  http: AxiosInstance,
  url: string,
  file: string,
  options: DownloadOptions,
  guard: ReturnType<typeof guardedRequest> | undefined,
): Promise<number> {
  // The whole request, body included, against one deadline, which the job's own end cuts short.
  const { signal } = deadline(options.timeoutMs, options.cancel);
  try {
    const response = await http.get<NodeJS.ReadableStream>(url, {
      responseType: 'stream',
      signal,
      maxRedirects: MAX_REDIRECTS,
      ...guard,
      validateStatus: () => true,
      headers: { Accept: 'image/*' },
    });
    if (response.status >= 400) {
      (response.data as unknown as { destroy(): void }).destroy();
      throw new DownloadError(`HTTP ${response.status}`, response.status >= 500 || response.status === 429);
    }
    const declared = Number(response.headers['content-length'] ?? 0);
    if (declared > options.maxBytes) {
      (response.data as unknown as { destroy(): void }).destroy();
      throw new DownloadError(`larger than ${options.maxBytes} bytes (Content-Length ${declared})`, false);
    }
    let received = 0;
    // The first bytes must announce an image: anything else is refused there, not after the whole body.
    let head: Buffer | null = Buffer.alloc(0);
    const notAnImage = (bytes: Buffer) =>
      formatBySignature(bytes)
        ? null
        : new DownloadError(
            bytes.length
              ? 'not a readable image (its first bytes are none of JPEG, PNG, WebP, GIF, HEIF or TIFF)'
              : 'not a readable image (empty)',
            false,
          );
    const limiter = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        received += chunk.length;
        if (received > options.maxBytes)
          return callback(new DownloadError(`larger than ${options.maxBytes} bytes`, false));
        if (head) {
          head = Buffer.concat([head, chunk]);
          if (head.length >= SIGNATURE_BYTES) {
            const refused = notAnImage(head.subarray(0, SIGNATURE_BYTES));
            head = null;
            if (refused) return callback(refused);
          }
        }
        callback(null, chunk);
      },
      flush(callback) {
        callback(head ? notAnImage(head) : null);
      },
    });
    await pipeline(response.data, limiter, createWriteStream(file), { signal });
    return received;
  } catch (err) {
    if (signal.aborted && !options.cancel?.aborted)
      throw new DownloadError(`timed out after ${options.timeoutMs / 1000} s`, true);
    throw err;
  }
}

/**
 * Why a connection failed (refused, reset, no such host) is not told: the reason reaches the job record, and a job's
 * photo URLs could otherwise map which ports of an allowed host answer.
 */
const NETWORK_ERROR = 'network error';

function classify(err: unknown, options: DownloadOptions): DownloadError {
  const refused = egressRefusal(err);
  if (refused) return new DownloadError(`refused: ${refused.message}`, false);
  if (isAxiosError(err) && err.code === 'EEGRESS') return new DownloadError(`refused: ${err.message}`, false);
  if (isAxiosError(err)) {
    if (err.code === 'ECONNABORTED' || err.code === 'ETIMEDOUT')
      return new DownloadError(`timed out after ${options.timeoutMs / 1000} s`, true);
    if (err.code === 'ERR_FR_TOO_MANY_REDIRECTS') return new DownloadError('too many redirects', false);
    return new DownloadError(NETWORK_ERROR, true);
  }
  const code = (err as NodeJS.ErrnoException)?.code;
  if (code === 'ENOSPC' || code === 'EACCES' || code === 'EROFS') throw err; // our disk, not the photo: fatal
  return new DownloadError(NETWORK_ERROR, true);
}
