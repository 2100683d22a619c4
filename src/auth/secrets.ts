/**
 * The secrets this process holds in the clear (the service token, the backend tokens of its jobs), so that text
 * written anywhere (a log line, a job record, an error sent to the backend) can be scrubbed of them, even when a
 * peer quotes one back in an error message.
 */
/** The service's own tokens: never forgotten. */
const permanent = new Set<string>();
/** Each running job's backend token, for as long as the job runs here: never forgotten meanwhile. */
const running = new Map<string, string>();
/** The tokens of jobs that ended here, for text about them that comes late (a webhook's answer); the oldest go. */
const ended = new Map<string, string>();
/** Ended jobs whose tokens are kept: far more than run between a job's end and its last webhook's answer. */
const MAX_ENDED = 1000;
/** Shorter strings are too likely to occur by chance to be replaced everywhere (tokens are at least 16). */
const MIN_LENGTH = 8;

export const REDACTED = '[redacted]';

/** A token of the service itself (ML_SERVICE_TOKEN): scrubbed from everything, for the life of the process. */
export function registerSecret(secret: string | undefined): void {
  if (secret && secret.length >= MIN_LENGTH) permanent.add(secret);
}

/** A job's backend token, scrubbed from everything while the job runs here (and a while after: see jobEnded). */
export function registerJobSecret(jobId: string, token: string): void {
  if (token.length >= MIN_LENGTH) running.set(jobId, token);
}

/** The job no longer runs here: its token is kept among the last MAX_ENDED ended jobs' only. */
export function jobEnded(jobId: string): void {
  const token = running.get(jobId);
  if (token === undefined) return;
  running.delete(jobId);
  ended.delete(jobId);
  ended.set(jobId, token);
  if (ended.size > MAX_ENDED) ended.delete(ended.keys().next().value as string);
}

/** The user name and password of a URL (`scheme://user:password@host`), which no message may show. */
const URL_USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/)[^\s/?#@]+@/gi;

export function redactSecrets(text: string): string {
  let result = text.replace(URL_USERINFO, `$1${REDACTED}@`);
  for (const secrets of [permanent, running.values(), ended.values()])
    for (const secret of secrets) if (result.includes(secret)) result = result.split(secret).join(REDACTED);
  return result;
}
