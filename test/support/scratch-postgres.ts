import { execFile } from 'node:child_process';
import { chown, readdirSync } from 'node:fs';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { tempDir } from './fixtures';
import { freePort } from './service-process';

const run = promisify(execFile);

/** The newest server binaries of Debian's postgresql packages (initdb and pg_ctl are not on PATH there). */
function postgresBin(): string {
  const root = '/usr/lib/postgresql';
  const versions = readdirSync(root)
    .filter((v) => /^\d+$/.test(v))
    .sort((a, b) => Number(b) - Number(a));
  if (!versions.length) throw new Error(`no PostgreSQL server binaries under ${root}`);
  return path.join(root, versions[0], 'bin');
}

/**
 * A private PostgreSQL server on a free loopback port, in a temporary folder: a test may stop and start it at will
 * without touching the machine's server. Postgres refuses to run as root, so as root it runs as `postgres`.
 */
export class ScratchPostgres {
  private dir = '';
  port = 0;

  get url(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/postgres`;
  }

  async create(): Promise<this> {
    this.dir = await tempDir('postgres');
    this.port = await freePort();
    if (process.getuid?.() === 0) {
      const { stdout } = await run('id', ['-u', 'postgres']);
      const { stdout: gid } = await run('id', ['-g', 'postgres']);
      await promisify(chown)(this.dir, Number(stdout), Number(gid));
    }
    await this.pg('initdb', ['-D', this.data, '-U', 'postgres', '-A', 'trust', '--no-sync', '--no-instructions']);
    await this.start();
    return this;
  }

  async start(): Promise<void> {
    const options = `-p ${this.port} -k ${this.dir} -c listen_addresses=127.0.0.1 -c fsync=off`;
    await this.pg('pg_ctl', ['-D', this.data, '-o', options, '-l', path.join(this.dir, 'server.log'), '-w', 'start']);
  }

  /** Fast shutdown: open connections are cut, as in a restart or a crash of the database host. */
  async stop(): Promise<void> {
    await this.pg('pg_ctl', ['-D', this.data, '-m', 'fast', '-w', 'stop']);
  }

  async destroy(): Promise<void> {
    if (!this.dir) return;
    await this.stop().catch(() => undefined);
    await fs.rm(this.dir, { recursive: true, force: true });
  }

  private get data(): string {
    return path.join(this.dir, 'data');
  }

  private async pg(program: string, args: string[]): Promise<void> {
    const binary = path.join(postgresBin(), program);
    const asRoot = process.getuid?.() === 0;
    await run(asRoot ? 'runuser' : binary, asRoot ? ['-u', 'postgres', '--', binary, ...args] : args, {
      cwd: this.dir,
    });
  }
}
