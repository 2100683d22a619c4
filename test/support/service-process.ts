/** Test support: the service as its own process, for tests that kill it. */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import * as path from 'node:path';
import { freeLoopbackPort } from '../../src/common/loopback';
import { testEnv, waitFor } from './service-app';

/** The service as its own process (`node src/main.js`), for tests that kill it. */
export class ServiceProcess {
  private child?: ChildProcess;
  url = '';

  constructor(
    private readonly dir: string,
    private readonly env: Record<string, string>,
    private readonly logFile: string,
  ) {}

  async start(): Promise<this> {
    const port = await freeLoopbackPort();
    this.url = `http://127.0.0.1:${port}`;
    const log = createWriteStream(this.logFile, { flags: 'a' });
    this.child = spawn(process.execPath, [path.join(__dirname, '..', '..', 'src', 'main.js')], {
      env: { ...process.env, ...testEnv(this.dir, this.env), PORT: String(port) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child.stdout!.pipe(log);
    this.child.stderr!.pipe(log);
    await waitFor(
      `the service on port ${port}`,
      async () => {
        if (this.child!.exitCode !== null)
          throw new Error(`the service exited with ${this.child!.exitCode}; see ${this.logFile}`);
        return (
          (await fetch(`${this.url}/health`)
            .then((r) => r.ok)
            .catch(() => false)) || undefined
        );
      },
      30_000,
    );
    return this;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** SIGKILL: no shutdown hook runs, as when a machine dies. */
  kill(): Promise<void> {
    return this.signal('SIGKILL');
  }

  /** SIGTERM: the service shuts down gracefully. */
  stop(): Promise<void> {
    return this.signal('SIGTERM');
  }

  /** Sends `signal` and resolves once the process has exited. */
  private async signal(signal: NodeJS.Signals): Promise<void> {
    const child = this.child;
    if (!child || exited(child)) return;
    const done = new Promise((resolve) => child.once('exit', resolve));
    child.kill(signal);
    await done;
  }
}

/** A process killed by a signal has a null exitCode and a signalCode. */
function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}
