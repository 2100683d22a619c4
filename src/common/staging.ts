/**
 * Files and folders written beside their final name, then moved in. Their names say which host and process made them,
 * so that a later process can remove what a killed one left behind, and leave alone what a live one is writing.
 */
import { randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { processIsAlive } from './processes';

/** `kind` names what is staged ("photos", "tmp"); letters only. */
export function stagingPath(target: string, kind: string): string {
  return `${target}.${kind}~${os.hostname()}~${process.pid}~${randomUUID()}`;
}

const STAGING = /\.[a-z]+~(.+)~(\d+)~[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** A staging entry of another host is left this long: a process there may still be writing it. */
export const FOREIGN_STAGING_MAX_AGE_MS = 24 * 3600_000;

export interface StaleStagingOptions {
  host?: string;
  /** Whether a process of this host is alive (signal 0). */
  isAlive?: (pid: number) => boolean;
  now?: number;
}

/**
 * Removes the staging entries in `dir` that no live process is writing: those of this host whose process is gone, and
 * those of another host older than FOREIGN_STAGING_MAX_AGE_MS. Returns their names.
 */
export async function removeStaleStaging(dir: string, options: StaleStagingOptions = {}): Promise<string[]> {
  const { host = os.hostname(), isAlive = processIsAlive, now = Date.now() } = options;
  const names = await fs.readdir(dir).catch(() => [] as string[]);
  const removed: string[] = [];
  for (const name of names) {
    const match = STAGING.exec(name);
    if (!match) continue;
    const [, madeBy, pid] = match;
    const entry = path.join(dir, name);
    const stale =
      madeBy === host
        ? Number(pid) !== process.pid && !isAlive(Number(pid))
        : now - ((await fs.stat(entry).catch(() => undefined))?.mtimeMs ?? now) > FOREIGN_STAGING_MAX_AGE_MS;
    if (!stale) continue;
    await fs.rm(entry, { recursive: true, force: true });
    removed.push(name);
  }
  return removed;
}
