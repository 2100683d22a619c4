/**
 * The secrets this process holds in the clear (the service token, the backend tokens of its jobs), so that text
 * written anywhere (a log line, a job record, an error sent to the backend) can be scrubbed of them, even when a
 * peer quotes one back in an error message.
 */
const known = new Set<string>();
/** Tokens are few (the backend uses one per installation); the oldest are forgotten past this many. */
const MAX_KNOWN = 1000;
/** Shorter strings are too likely to occur by chance to be replaced everywhere (tokens are at least 16). */
const MIN_LENGTH = 8;

export const REDACTED = '[redacted]';

export function registerSecret(secret: string | undefined): void {
  if (!secret || secret.length < MIN_LENGTH || known.has(secret)) return;
  known.add(secret);
  if (known.size > MAX_KNOWN) known.delete(known.values().next().value as string);
}

/** The user name and password of a URL (`scheme://user:password@host`), which no message may show. */
const URL_USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/)[^\s/?#@]+@/gi;

export function redactSecrets(text: string): string {
  let result = text.replace(URL_USERINFO, `$1${REDACTED}@`);
  for (const secret of known) if (result.includes(secret)) result = result.split(secret).join(REDACTED);
  return result;
}
