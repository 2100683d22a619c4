/** Where the service's outbound requests may go (ALLOWED_HOSTS, ports, resolved addresses), and their deadlines. */
import type { LookupAddress, LookupOptions } from 'node:dns';
import { lookup as dnsLookup } from 'node:dns';
import { isIP } from 'node:net';
import { TrainerError } from './errors';

/**
 * Where outbound requests may go. Every request the service makes on a job's behalf (manifest, photos, status,
 * upload) is checked against it: scheme, host, each redirect, and the addresses the host resolves to.
 */
export interface EgressPolicy {
  /** Lower-case host names or IP literals. */
  hosts: ReadonlySet<string>;
  /**
   * The configured hosts (ALLOWED_HOSTS) alone: only an address listed there may be a metadata or link-local one. A
   * job's own URLs never open those (a job could otherwise point the service at the cloud's metadata service).
   */
  trusted: ReadonlySet<string>;
  /** Ports requests may use: ALLOWED_PORTS plus those of the job's own URLs (so a photo URL cannot probe others). */
  ports: ReadonlySet<number>;
}

/** The ports of plain http and https, which ALLOWED_PORTS lists by default. */
export const DEFAULT_PORTS = [80, 443];

/** Most redirects a request may follow. */
export const MAX_REDIRECTS = 3;

export class EgressRefusedError extends TrainerError {}

/** The policy refusal behind an error, however deeply the HTTP client wrapped it (axios, then follow-redirects). */
export function egressRefusal(err: unknown): EgressRefusedError | undefined {
  for (let e = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    if (e instanceof EgressRefusedError) return e;
  }
  return undefined;
}

/**
 * The policy for one job: the configured hosts and ports plus the hosts and ports of the job's own manifest and
 * webhook URLs.
 */
export function egressPolicy(
  configured: Iterable<string>,
  jobUrls: string[] = [],
  configuredPorts: Iterable<number> = DEFAULT_PORTS,
): EgressPolicy {
  const trusted = new Set([...configured].map((h) => normalisedHost(h.trim())).filter(Boolean));
  const hosts = new Set(trusted);
  const ports = new Set(configuredPorts);
  for (const url of jobUrls) {
    hosts.add(hostOf(url));
    const port = portOf(url);
    if (port) ports.add(port);
  }
  return { hosts, trusted, ports };
}

/**
 * Why a job's own URL (manifest or webhook) is refused before the job is accepted, or null: its host is a metadata
 * or link-local address that ALLOWED_HOSTS does not list.
 */
export function refusedJobUrl(url: string, configured: Iterable<string>): string | null {
  const host = hostOf(url);
  if (isIP(host) && !addressAllowed(host, egressPolicy(configured))) {
    return `the link-local or metadata address ${host} is not allowed (list it in ALLOWED_HOSTS to allow it)`;
  }
  return null;
}

/** Refuses a URL whose scheme is not http(s) or whose host is not allowed; says which. */
export function checkUrl(url: string, policy: EgressPolicy): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new EgressRefusedError(`not a URL: ${url.slice(0, 200)}`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new EgressRefusedError(`scheme ${parsed.protocol} is not allowed (only http and https)`);
  }
  const host = hostOf(url);
  if (!policy.hosts.has(host)) throw new EgressRefusedError(`host ${host} is not in ALLOWED_HOSTS`);
  const port = portOf(url);
  if (!policy.ports.has(port)) throw new EgressRefusedError(`port ${port} is not in ALLOWED_PORTS`);
  return parsed;
}

/** Cloud metadata services outside the link-local ranges (AWS's IPv6 one, Alibaba's). */
const METADATA_ADDRESSES = new Set(['fd00:ec2::254', '100.100.100.200']);

/**
 * Link-local addresses (169.254.0.0/16, fe80::/10), where cloud metadata services answer, and the other metadata
 * addresses; IPv4-mapped IPv6 forms of them too (`::ffff:169.254.169.254`, which URLs write `::ffff:a9fe:a9fe`):
 * never reached unless ALLOWED_HOSTS lists the address itself.
 */
export function isLinkLocal(address: string): boolean {
  const normalised = normalisedHost(address);
  if (METADATA_ADDRESSES.has(normalised)) return true;
  if (isIP(normalised) === 4) return normalised.startsWith('169.254.');
  if (isIP(normalised) === 6) return (parseInt(normalised.split(':')[0] || '0', 16) & 0xffc0) === 0xfe80;
  return false;
}

/**
 * A host as compared: lower case, without brackets, an IPv6 address in Node's canonical form and an IPv4-mapped one
 * as its IPv4 address.
 */
function normalisedHost(host: string): string {
  const bare = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (isIP(bare) !== 6) return bare;
  const canonical = new URL(`http://[${bare}]/`).hostname.replace(/^\[|\]$/g, '');
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(canonical);
  if (mapped) {
    const [high, low] = [parseInt(mapped[1], 16), parseInt(mapped[2], 16)];
    return [high >> 8, high & 255, low >> 8, low & 255].join('.');
  }
  const dotted = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(canonical);
  return dotted ? dotted[1] : canonical;
}

/** Whether a resolved address may be connected to under the policy. */
export function addressAllowed(address: string, policy: EgressPolicy): boolean {
  return !isLinkLocal(address) || policy.trusted.has(normalisedHost(address));
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;
export type LookupFunction = (hostname: string, options: LookupOptions, callback: LookupCallback) => void;

/**
 * A DNS lookup for http(s) agents that refuses link-local answers at connect time, so a host name that resolves
 * (or is rebound) to the metadata address cannot be reached. `resolve` is injectable for tests.
 */
export function guardedLookup(
  policy: EgressPolicy,
  resolve: LookupFunction = dnsLookup as unknown as LookupFunction,
): LookupFunction {
  return (hostname, options, callback) => {
    resolve(hostname, options, (err, address, family) => {
      if (err) return callback(err, address, family);
      const addresses = Array.isArray(address) ? address.map((a) => a.address) : [address];
      const refused = addresses.find((a) => !addressAllowed(a, policy));
      if (refused) {
        const error = new EgressRefusedError(
          `${hostname} resolves to the link-local address ${refused}, which is not allowed`,
        ) as NodeJS.ErrnoException;
        error.code = 'EEGRESS';
        return callback(error, address, family);
      }
      callback(null, address, family);
    });
  };
}

/**
 * A whole-request deadline for axios (connect, headers and body): axios's own `timeout` only notices a socket that
 * stays silent, so a peer that trickles a byte now and then would hold the request forever. `cancel`, if given, ends
 * the request earlier (a job's ceiling).
 */
export function deadline(ms: number, cancel?: AbortSignal) {
  const timeout = AbortSignal.timeout(ms);
  if (!cancel) return { timeout: ms, signal: timeout };
  // Node 20's AbortSignal.any holds its sources weakly: a timeout signal nothing else listens to can be collected
  // before it fires (nodejs/node#57736), and the deadline with it. A listener keeps it alive until it fires.
  timeout.addEventListener('abort', () => undefined, { once: true });
  return { timeout: ms, signal: AbortSignal.any([timeout, cancel]) };
}

/** Whether a request ended because its deadline passed. */
export function pastDeadline(err: unknown): boolean {
  return (err as { code?: string } | null)?.code === 'ERR_CANCELED';
}

/** True for an axios request whose answer was cut off past its `maxContentLength`. */
export function answerTooLarge(err: unknown): boolean {
  return /maxContentLength/.test((err as Error | null)?.message ?? '');
}

/** True for an http(s) URL; the settings that take one (BASE_MODEL_URL, GROCERY_DATASET_URL) read anything else as a path. */
export function isHttpUrl(text: string): boolean {
  return /^https?:\/\//i.test(text);
}

/** Options for an axios request that enforce the policy on the first URL, every redirect, and every address. */
export function guardedRequest(url: string, policy: EgressPolicy) {
  const target = checkUrl(url, policy);
  if (
    isIP(target.hostname.replace(/^\[|\]$/g, '')) &&
    !addressAllowed(target.hostname.replace(/^\[|\]$/g, ''), policy)
  ) {
    throw new EgressRefusedError(`the link-local address ${target.hostname} is not allowed`);
  }
  return {
    maxRedirects: MAX_REDIRECTS,
    // Node's callback lookup; axios types it with its own copy of the dns types.
    lookup: guardedLookup(policy) as never,
    beforeRedirect: (options: { href?: string; protocol?: string; hostname?: string; host?: string }) => {
      const next = options.href ?? `${options.protocol}//${options.host ?? options.hostname}`;
      checkUrl(next, policy);
    },
  };
}

/** The port a URL connects to (its scheme's default when it names none); 0 for what is not an http(s) URL. */
function portOf(url: string): number {
  try {
    const parsed = new URL(url);
    if (parsed.port) return Number(parsed.port);
    return parsed.protocol === 'https:' ? 443 : parsed.protocol === 'http:' ? 80 : 0;
  } catch {
    return 0;
  }
}

function hostOf(url: string): string {
  try {
    return normalisedHost(new URL(url).hostname);
  } catch {
    return '';
  }
}
