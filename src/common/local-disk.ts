/** This machine's own disk: writable-folder checks at start-up, disk-refusal errors, file existence. */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';

/** errno codes by which this machine's own disk refuses a write: full, over quota, read-only, forbidden, no folder. */
const LOCAL_DISK_CODES = ['ENOSPC', 'EDQUOT', 'EROFS', 'EACCES', 'EPERM', 'ENOTDIR'];
const LOCAL_DISK_MESSAGE = new RegExp(`^(${LOCAL_DISK_CODES.join('|')})\\b`);

/**
 * True for an error of our own disk, never of a remote peer. Errors that crossed from a worker thread keep only
 * their message ("ENOSPC: no space left on device, write"), so the message is checked as well as the code.
 */
export function isLocalDiskError(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code && LOCAL_DISK_CODES.includes(code)) return true;
  return err instanceof Error && LOCAL_DISK_MESSAGE.test(err.message);
}

/**
 * Creates `dir` when missing and proves that a file can be written in it, so that a bad folder stops the service
 * at start-up with a message naming the setting, instead of failing every job later.
 */
export async function assertWritableDir(dir: string, setting: string): Promise<void> {
  const probe = path.join(dir, `.write-test-${process.pid}`);
  try {
    await fs.mkdir(dir, { recursive: true });
    await fs.writeFile(probe, 'ok');
    await fs.rm(probe);
  } catch (err) {
    throw new Error(
      `${setting}=${dir} is not a writable folder (${(err as Error).message}); point ${setting} at a folder this user can write`,
    );
  }
}

/** Whether `file` exists (and can be reached). */
export function fileExists(file: string): Promise<boolean> {
  return fs.access(file).then(
    () => true,
    () => false,
  );
}
