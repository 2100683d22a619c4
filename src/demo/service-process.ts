/**
 * The service as a child process (`node main.js`) on a free loopback port, its output in a log file: what the demo
 * runs, and what the tests kill and restart.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, promises as fs } from 'node:fs';
import * as path from 'node:path';
import { freeLoopbackPort } from '../common/loopback';

const MAIN = path.join(__dirname, '..', 'main.js');

export class ServiceProcess {
  private child?: ChildProcess;
  url = '';

  /** `env` is the whole environment of the process (PORT is set by start). */
  constructor(
    private readonly env: NodeJS.ProcessEnv,
    readonly logFile: string,
  ) {}

  /**
   * Starts the process and resolves once /health answers 200; fails with the log's last lines if it exits first, or
   * (after killing it) if it takes longer than `timeoutMs`.
   */
  async start(timeoutMs: number): Promise<this> {
    const port = await freeLoopbackPort();
    this.url = `http://127.0.0.1:${port}`;
    const log = createWriteStream(this.logFile, { flags: 'a' });
    const child = spawn(process.execPath, ['--enable-source-maps', MAIN], {
      env: { ...this.env, PORT: String(port) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    // Both outputs go to one log, which ends once the process and both have ended: it then holds all they wrote.
    child.stdout!.pipe(log, { end: false });
    child.stderr!.pipe(log, { end: false });
    const logged = new Promise((resolve) => {
      child.once('close', () => log.end(resolve));
    });
    const failure = async (what: string) =>
      new Error(`${what}: ${(await logged, await this.lastLines())} (its log: ${this.logFile})`);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (exited(child)) throw await failure(`the service exited with ${child.exitCode ?? child.signalCode}`);
      const healthy = await fetch(`${this.url}/health`).then(
        (r) => r.ok,
        () => false,
      );
      if (healthy) return this;
      if (Date.now() > deadline) {
        await this.kill();
        throw await failure(`the service did not answer /health within ${timeoutMs / 1000} s`);
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** SIGKILL: no shutdown hook runs, as when a machine dies. */
  kill(): Promise<void> {
    return this.signal('SIGKILL');
  }

  /**
   * SIGTERM (the service stops its jobs and its embedded database), then SIGKILL if it has not exited after
   * `graceMs`; resolves once the process has exited.
   */
  async stop(graceMs = Infinity): Promise<void> {
    const timer = Number.isFinite(graceMs) ? setTimeout(() => this.child?.kill('SIGKILL'), graceMs) : undefined;
    try {
      await this.signal('SIGTERM');
    } finally {
      clearTimeout(timer);
    }
  }

  /** Sends `signal` and resolves once the process has exited. */
  private async signal(signal: NodeJS.Signals): Promise<void> {
    const child = this.child;
    if (!child || exited(child)) return;
    const done = new Promise((resolve) => child.once('exit', resolve));
    child.kill(signal);
    await done;
  }

  private async lastLines(): Promise<string> {
    const text = await fs.readFile(this.logFile, 'utf8').catch(() => '');
    return text.trim().split('\n').slice(-5).join('\n');
  }
}

/** A process killed by a signal has a null exitCode and a signalCode. */
function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}
