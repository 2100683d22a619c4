/** End-to-end: the scheduler with each channel-state source. */
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { FakeBackend } from './support/fake-backend';
import { tempDir } from './support/fixtures';
import { SERVICE_TOKEN, startService, waitFor, type RunningService } from './support/service-app';
import { ServiceApi } from './support/service-api';
import { resetDatabase, withDatabase } from './support/test-database';
import { QUICK_CLASSES } from './support/shared';

/**
 * Channels in every state. Ages are hours before now. The backend writes these rows itself, with only these
 * columns (own table) or its custom fields (Vendure's channel table).
 */
const SEED: { id: string; queued: number | null; trained: number | null; status: string }[] = [
  { id: '21', queued: 3, trained: null, status: 'idle' }, // due: never trained
  { id: '22', queued: 2, trained: 5, status: 'active' }, // due: cooldown over
  { id: '23', queued: 1, trained: 1, status: 'active' }, // cooldown
  { id: '24', queued: 1.5, trained: null, status: 'training' }, // marked training by the backend
  { id: '25', queued: 0.5, trained: null, status: 'idle' }, // has a job already (started below)
  { id: '26', queued: null, trained: 30, status: 'active' }, // not queued
];

async function seed(source: 'own' | 'vendure'): Promise<void> {
  await withDatabase(async (db) => {
    const ago = (h: number | null) => (h === null ? 'NULL' : `now() - interval '${h * 60} minutes'`);
    const agoUtc = (h: number | null) =>
      h === null ? 'NULL' : `(now() - interval '${h * 60} minutes') AT TIME ZONE 'UTC'`;
    for (const c of SEED) {
      if (source === 'own') {
        await db.query(
          `INSERT INTO channel_training_state (channel_id, queued_at, last_trained_at, status) VALUES ($1, ${ago(c.queued)}, ${ago(c.trained)}, $2)`,
          [c.id, c.status],
        );
      } else {
        await db.query(
          `INSERT INTO channel (id, code, "customFieldsMltrainingqueuedat", "customFieldsMllasttrainedat", "customFieldsMltrainingstatus")
           VALUES ($1, $2, ${agoUtc(c.queued)}, ${agoUtc(c.trained)}, $3)`,
          [Number(c.id), `shop-${c.id}`, c.status],
        );
      }
    }
    if (source === 'vendure')
      for (const id of [28, 29]) await db.query(`INSERT INTO channel (id, code) VALUES ($1, $2)`, [id, `shop-${id}`]);
  });
}

/** A channel the backend knows (Vendure's table needs the row; our own table creates it when queued). */
async function seedChannel(source: 'own' | 'vendure', id: string): Promise<void> {
  if (source === 'own') return;
  await withDatabase((db) => db.query(`INSERT INTO channel (id, code) VALUES ($1, $2)`, [Number(id), `shop-${id}`]));
}

/** The part of Vendure's channel table the scheduler uses, as the backend's migrations create it. */
async function createVendureChannelTable(): Promise<void> {
  await withDatabase((db) =>
    db.query(`
    CREATE TABLE channel (
      id serial PRIMARY KEY,
      code varchar NOT NULL,
      "customFieldsMltrainingqueuedat" timestamp without time zone NULL,
      "customFieldsMllasttrainedat" timestamp without time zone NULL,
      "customFieldsMltrainingstatus" varchar(255) NULL DEFAULT 'idle'
    )`),
  );
}

for (const source of ['own', 'vendure'] as const) {
  describe(`scheduler with ${source} channel state`, () => {
    let work: string;
    let backend: FakeBackend;
    let service: RunningService;
    let second: RunningService;

    let api: ServiceApi;
    let secondApi: ServiceApi;
    const channel = async (id: string) => (await api.call('GET', `/v1/channels/${id}`)).body;

    before(async () => {
      work = await tempDir(`scheduler-${source}`);
      await resetDatabase();
      if (source === 'vendure') await createVendureChannelTable();
      // Scheduled jobs call the backend with ML_SERVICE_TOKEN.
      backend = await new FakeBackend(SERVICE_TOKEN).start();
      for (const id of ['21', '22', '25', '28', '29'])
        backend.manifests.set(id, backend.groceryProducts(QUICK_CLASSES.slice(0, 2), 3));
      const env = { CHANNEL_STATE_SOURCE: source, BACKEND_INTERNAL_URL: backend.url, COOLDOWN_HOURS: '4' };
      service = await startService(work, env);
      second = await startService(work, env);
      api = new ServiceApi(service.url, backend);
      secondApi = new ServiceApi(second.url, backend);
      await seed(source);
    });
    after(async () => {
      await Promise.all([service?.app.close(), second?.app.close()]);
      await backend?.stop();
      await fs.rm(work, { recursive: true, force: true });
    });

    it('one tick starts exactly the due channels, oldest first, and leaves the others queued', async () => {
      const existing = await api.train('25');
      assert.equal(existing.status, 202);
      const before = Object.fromEntries(
        await Promise.all(['23', '24', '25'].map(async (id) => [id, (await channel(id)).queuedAt])),
      );

      const { status, body } = await api.call('POST', '/v1/scheduler/run');
      assert.equal(status, 200);
      assert.deepEqual(
        body.started.map((s: { channelId: string }) => s.channelId),
        ['21', '22'],
      );
      const reasons = Object.fromEntries(
        body.skipped.map((s: { channelId: string; reason: string }) => [s.channelId, s.reason]),
      );
      assert.deepEqual(Object.keys(reasons).sort(), ['23', '24', '25']);
      assert.match(reasons['23'], /^cooldown/);
      assert.equal(reasons['24'], 'status is training');
      assert.match(reasons['25'], /already queued or running|status is training/);

      for (const id of ['21', '22'])
        assert.equal((await channel(id)).queuedAt, null, `channel ${id} is no longer queued`);
      for (const id of ['23', '24', '25'])
        assert.equal((await channel(id)).queuedAt, before[id], `channel ${id} keeps its queuedAt`);
      assert.equal((await channel('26')).queuedAt, null);

      // The scheduled job goes through the same path as POST /v1/train, with the backend-internal URLs.
      const job = await api.job(body.started[0].jobId);
      assert.equal(job.channelId, '21');
      const done = await waitFor('channel 21 to be trained', async () => {
        const c = await channel('21');
        return c.status === 'active' ? c : undefined;
      });
      assert.ok(Date.now() - new Date(done.lastTrainedAt).getTime() < 60_000, 'lastTrainedAt is set to now');
      assert.equal(done.queuedAt, null);
      assert.equal(backend.uploads.filter((u) => u.channelId === '21').length, 1);
    });

    it('marks channels queued through the API, keeping the first queuedAt', async () => {
      const first = await api.call('PUT', '/v1/channels/28/queue');
      assert.equal(first.status, 200);
      assert.ok(first.body.queuedAt);
      const again = await api.call('PUT', '/v1/channels/28/queue');
      assert.equal(again.body.queuedAt, first.body.queuedAt);
      await api.call('PUT', '/v1/channels/29/queue');
      const list = (await api.call('GET', '/v1/channels')).body.map((c: { channelId: string }) => c.channelId);
      assert.ok(list.includes('28') && list.includes('21'));
      if (source === 'vendure') assert.equal((await api.call('PUT', '/v1/channels/999/queue')).status, 404);
    });

    it('two replicas ticking at once start one job per channel', async () => {
      const [a, b] = await Promise.all([
        api.call('POST', '/v1/scheduler/run'),
        secondApi.call('POST', '/v1/scheduler/run'),
      ]);
      const started = [...a.body.started, ...b.body.started].map((s: { channelId: string }) => s.channelId).sort();
      assert.deepEqual(started, ['28', '29']);
      assert.ok(a.body.ranElsewhere || b.body.ranElsewhere || a.body.started.length + b.body.started.length === 2);
      const jobs = (await api.call('GET', '/v1/jobs?channelId=28')).body;
      assert.equal(jobs.length, 1);
    });

    it('a tick racing POST /v1/train for the same channel yields one job', async () => {
      backend.manifests.set('30', backend.groceryProducts(QUICK_CLASSES.slice(0, 2), 3));
      await waitFor('channel 28 and 29 jobs to end', async () => {
        const active =
          (await api.call('GET', '/v1/jobs?status=running')).body.length +
          (await api.call('GET', '/v1/jobs?status=queued')).body.length;
        return active === 0 ? true : undefined;
      });
      await seedChannel(source, '30');
      await api.call('PUT', '/v1/channels/30/queue');
      const [posted, ticked] = await Promise.all([secondApi.train('30'), api.call('POST', '/v1/scheduler/run')]);
      const startedByTick = ticked.body.started.filter((s: { channelId: string }) => s.channelId === '30').length;
      assert.equal(
        (posted.status === 202 ? 1 : 0) + startedByTick,
        1,
        `POST answered ${posted.status}, the tick started ${startedByTick}`,
      );
      assert.equal((await api.call('GET', '/v1/jobs?channelId=30')).body.length, 1);
    });
  });
}
