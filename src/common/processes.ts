/** Whether a process of this machine is alive. */

/** Signal 0 asks without signalling; EPERM means alive, another user's. */
export function processIsAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
