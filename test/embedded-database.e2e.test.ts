/** End-to-end: npm start without DATABASE_URL, on the embedded PostgreSQL. */
import assert from 'node:assert/strict';
import { existsSync, promises as fs } from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FakeBackend } from './support/fake-backend';
import { postgresFolder, tempDir } from './support/fixtures';
import { ServiceApi } from './support/service-api';
import { TestServiceProcess } from './support/service-process';
import { QUICK_CLASSES } from './support/shared';

const BACKEND_TOKEN = 'backend-token-embedded';

describe('npm start with no DATABASE_URL: an embedded PostgreSQL in DATA_DIR', () => {
  let work: string;
  let dataDir: string;
  let backend: FakeBackend;
  const processes: TestServiceProcess[] = [];
  const pidFile = () => path.join(dataDir, 'postgres', 'pgdata', 'postmaster.pid');
  const log = (name: string) => fs.readFile(path.join(work, `${name}.log`), 'utf8');
  const service = (name: string, more: Record<string, string> = {}) => {
    // An empty DATABASE_URL means unset.
    const env = { DATABASE_URL: '', DATA_DIR: dataDir, JOB_STALE_SECONDS: '3', LOG_LEVEL: 'info', ...more };
    const p = new TestServiceProcess(work, env, path.join(work, `${name}.log`));
    processes.push(p);
    return p.start();
  };

  before(async () => {
    work = await tempDir('embedded');
    dataDir = await postgresFolder();
    backend = await new FakeBackend(BACKEND_TOKEN).start();
  });
  after(async () => {
    await Promise.all(processes.map((p) => p.stop()));
    await backend.stop();
    await fs.rm(work, { recursive: true, force: true });
    await fs.rm(dataDir, { recursive: true, force: true });
  });

  it('says so in one log line, and keeps a job through a kill -9 and a graceful restart', async () => {
    backend.manifests.set('3', backend.groceryProducts(QUICK_CLASSES, 12));
    backend.photoDelayMs = 150;
    // For trying things out, this machine only (HOST); by default every interface, as a container needs.
    const first = await service('first', { HOST: '127.0.0.1' });
    assert.match(await log('first'), /listening on 127\.0\.0\.1, port \d+/);
    const lines = (await log('first')).split('\n').filter((l) => l.includes('embedded PostgreSQL'));
    assert.equal(lines.length, 1, 'one line about the embedded database');
    assert.match(
      lines[0],
      new RegExp(`no DATABASE_URL: using an embedded PostgreSQL in ${dataDir}.*set DATABASE_URL to a postgres:// URL`),
    );

    const { status, body } = await new ServiceApi(first.url, backend).train('3');
    assert.equal(status, 202);
    await new ServiceApi(first.url, backend).running(body.jobId);
    await first.kill();
    backend.photoDelayMs = 0;
    assert.ok(existsSync(pidFile()), 'the database outlives a killed service, as a real server would');

    const second = await service('second');
    const done = await new ServiceApi(second.url, backend).finished(body.jobId);
    assert.equal(done.state, 'completed', done.error);
    assert.equal(done.attempt, 2, 'the killed attempt was run again');
    assert.equal(backend.uploads.filter((u) => u.channelId === '3').length, 1);
    await second.stop();
    assert.ok(!existsSync(pidFile()), 'a graceful stop stops the embedded database too');
    assert.match(await log('second'), /listening on every interface, port \d+/);
    const errors = (await log('second')).split('\n').filter((l) => /"level":(50|60)/.test(l));
    assert.deepEqual(errors, [], 'no error was logged on the way down');

    const third = await service('third');
    const again = await new ServiceApi(third.url, backend).job(body.jobId);
    assert.equal(again.state, 'completed', 'the job record is still there after the database restarted');
    await third.stop();
  });

  it('stops the embedded database again when the service cannot start', async () => {
    const notAFolder = path.join(work, 'not-a-folder');
    await fs.writeFile(notAFolder, '');
    await assert.rejects(service('bad-start', { WORK_DIR: notAFolder }), /exited with 1/);
    assert.match(await log('bad-start'), /ml-trainer could not start: WORK_DIR=/);
    assert.ok(!existsSync(pidFile()), 'no database is left running');
  });
});
