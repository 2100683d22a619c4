/** End-to-end: Postgres restarted while jobs are queued and one runs. */
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FakeBackend } from './support/fake-backend';
import { EmbeddedPostgres } from '../src/database/embedded-postgres';
import { postgresFolder, tempDir } from './support/fixtures';
import { ServiceApi } from './support/service-api';
import { waitFor } from './support/service-app';
import { TestServiceProcess } from './support/service-process';
import { QUICK_CLASSES } from './support/shared';

const BACKEND_TOKEN = 'backend-token-outage';
/** How long the database stays down: longer than JOB_STALE_SECONDS, so heartbeats are missed meanwhile. */
const OUTAGE_MS = 6_000;

describe('Postgres restarted while jobs are queued and one is running', () => {
  let work: string;
  let backend: FakeBackend;
  let postgres: EmbeddedPostgres;
  let service: TestServiceProcess;
  let postgresDir: string;

  before(async () => {
    work = await tempDir('outage');
    postgresDir = await postgresFolder();
    postgres = await new EmbeddedPostgres(path.join(postgresDir, 'postgres')).start();
    backend = await new FakeBackend(BACKEND_TOKEN).start();
    service = new TestServiceProcess(
      work,
      { DATABASE_URL: postgres.url, JOB_STALE_SECONDS: '3' },
      path.join(work, 'service.log'),
    );
    await service.start();
  });
  after(async () => {
    await service?.kill();
    await backend?.stop();
    await postgres?.stop();
    await fs.rm(work, { recursive: true, force: true });
    await fs.rm(postgresDir, { recursive: true, force: true });
  });

  const api = () => new ServiceApi(service.url, backend);
  const health = () => api().call('GET', '/health', undefined, null);

  it('reports the outage on /health while it lasts, reconnects, and completes every job', async () => {
    const channels = ['41', '42', '43'];
    backend.manifests.set('41', backend.groceryProducts(QUICK_CLASSES, 12));
    for (const channel of channels.slice(1)) backend.manifests.set(channel, backend.groceryProducts(QUICK_CLASSES, 3));
    // Slow photos keep the first job downloading until the database goes down.
    backend.photoDelayMs = 200;
    const ids: string[] = [];
    for (const channelId of channels) {
      const accepted = await api().train(channelId);
      assert.equal(accepted.status, 202);
      ids.push(accepted.body.jobId);
    }
    await api().running(ids[0]);
    assert.equal((await health()).status, 200);

    await postgres.stop();
    const outageStart = Date.now();
    // The first job now downloads its last photos, trains and uploads during the outage: its outcome must wait.
    backend.photoDelayMs = 0;
    const down = await waitFor(
      '/health to report the outage',
      async () => {
        const answer = await health();
        return answer.status === 503 ? answer.body : undefined;
      },
      10_000,
    );
    assert.equal(down.error.database.status, 'down', JSON.stringify(down));
    await new Promise((resolve) => setTimeout(resolve, OUTAGE_MS - (Date.now() - outageStart)));
    assert.equal((await health()).status, 503, 'still down while the database is');
    await postgres.start();

    await waitFor('/health to recover', async () => ((await health()).status === 200 ? true : undefined), 30_000);
    const finished = await Promise.all(ids.map((id) => api().finished(id, 120_000)));
    for (const job of finished) assert.equal(job.state, 'completed', `${job.jobId}: ${job.error}`);
    for (const channel of channels)
      assert.equal(
        backend.uploads.filter((u) => u.channelId === channel).length,
        1,
        `channel ${channel} uploaded once`,
      );
  });
});
