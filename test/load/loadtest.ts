/**
 * `npm run loadtest`: a burst of LOAD_CHANNELS (40) channels on two service processes sharing one database, three of
 * them killed with SIGKILL while they train (each replaced by a new process), and /health probed on both all along.
 * Prints jobs completed, uploads per channel, /health p50/p99/max and peak RSS per process; exits 1 when a job did
 * not complete or a channel was not uploaded exactly once or twice (at-least-once: a kill between the backend taking
 * the model and its answer repeats the same upload).
 *
 * Runs on the database `npm test` uses (TEST_DATABASE_URL, or an embedded one), whose tables it empties, and the
 * fixture photos.
 * Not part of `npm test`.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { FakeBackend } from '../support/fake-backend';
import { tempDir } from '../support/fixtures';
import { ServiceApi } from '../support/service-api';
import { waitFor } from '../support/service-app';
import { resetDatabase, withDatabase } from '../support/test-database';
import { TestServiceProcess } from '../support/service-process';
import { QUICK_CLASSES } from '../support/shared';

const CHANNELS = Number(process.env.LOAD_CHANNELS ?? 40);
const KILLS = 3;
const PHOTOS_PER_PRODUCT = 6;
const PROBE_EVERY_MS = 100;
/** Stale after 10 s, so a killed process's job is taken over within the run (a deployment keeps 60 s). */
const ENV = { JOB_STALE_SECONDS: '10', JOB_RETRY_DELAY_SECONDS: '1', LOG_LEVEL: 'info' };

interface Slot {
  name: string;
  process: TestServiceProcess;
  probes: number[];
  peakRssMb: number;
}

async function main(): Promise<void> {
  const work = await tempDir('loadtest');
  await resetDatabase();
  const backend = await new FakeBackend('backend-token-load').start();
  const started = performance.now();
  let generation = 0;
  const startSlot = async (): Promise<Slot> => {
    const name = `p${++generation}`;
    const process = await new TestServiceProcess(work, ENV, path.join(work, `${name}.log`)).start();
    return { name, process, probes: [], peakRssMb: 0 };
  };
  const slots = await Promise.all([startSlot(), startSlot()]);
  const retired: Slot[] = [];
  let probing = true;
  const probeLoops = [0, 1].map(async (i) => {
    while (probing) {
      const slot = slots[i];
      const t0 = performance.now();
      const ok = await fetch(`${slot.process.url}/health`, { signal: AbortSignal.timeout(5000) })
        .then((r) => r.ok)
        .catch(() => false);
      if (ok && slots[i] === slot) slot.probes.push(performance.now() - t0);
      const rss = await residentMb(slot.process.pid);
      slot.peakRssMb = Math.max(slot.peakRssMb, rss);
      await sleep(PROBE_EVERY_MS);
    }
  });

  for (let c = 1; c <= CHANNELS; c++)
    backend.manifests.set(`load-${c}`, backend.groceryProducts(QUICK_CLASSES, PHOTOS_PER_PRODUCT));
  const answers = await Promise.all(
    Array.from({ length: CHANNELS }, (_, i) =>
      new ServiceApi(slots[i % 2].process.url, backend).train(`load-${i + 1}`),
    ),
  );
  const jobIds = answers.map((a) => {
    if (a.status !== 202) throw new Error(`POST /v1/train answered ${a.status}: ${JSON.stringify(a.body)}`);
    return a.body.jobId as string;
  });
  console.log(`${CHANNELS} jobs accepted by 2 processes in ${seconds(started)} s`);

  // Kill -9 a process that is training (alternating), each time a few more jobs have completed.
  for (let kill = 0; kill < KILLS; kill++) {
    const completedBefore = Math.round(((kill + 1) * CHANNELS) / (KILLS + 2));
    await waitFor('jobs to complete', async () => ((await completed()) >= completedBefore ? true : undefined), 600_000);
    const i = kill % 2;
    const victim = slots[i];
    const runningThere = await waitFor(
      `${victim.name} to be training`,
      async () => ((await runningIn(victim)) > 0 ? true : undefined),
      120_000,
    ).catch(() => false);
    await victim.process.kill();
    console.log(`${seconds(started)} s: kill -9 ${victim.name} (${runningThere ? 'while training' : 'idle'})`);
    retired.push(victim);
    slots[i] = await startSlot();
  }

  const api = new ServiceApi(slots[0].process.url, backend);
  const finished = await Promise.all(jobIds.map((id) => api.finished(id, 900_000)));
  probing = false;
  await Promise.all(probeLoops);
  const elapsed = seconds(started);
  await Promise.all(slots.map((s) => s.process.stop()));
  await backend.stop();

  const uploads = new Map<string, number>();
  for (const u of backend.uploads) uploads.set(u.channelId, (uploads.get(u.channelId) ?? 0) + 1);
  const perChannel = Array.from({ length: CHANNELS }, (_, i) => uploads.get(`load-${i + 1}`) ?? 0);
  const attempts = finished.map((j) => j.attempt as number);
  const done = finished.filter((j) => j.state === 'completed').length;
  const all = [...retired, ...slots];
  const probes = all.flatMap((s) => s.probes);

  console.log(`\n${CHANNELS} channels, 2 processes, ${KILLS} kill -9s, ${elapsed} s`);
  console.log(`jobs completed: ${done}/${CHANNELS} (failed: ${CHANNELS - done})`);
  console.log(`attempts per job: ${histogram(attempts)}`);
  console.log(`uploads per channel: ${histogram(perChannel)}`);
  console.log(
    `/health over ${probes.length} probes: p50 ${percentile(probes, 0.5)} ms, p99 ${percentile(probes, 0.99)} ms, max ${percentile(probes, 1)} ms`,
  );
  for (const s of all)
    console.log(
      `  ${s.name}: ${s.probes.length} probes, p99 ${percentile(s.probes, 0.99)} ms, peak RSS ${s.peakRssMb} MB`,
    );
  const failures = finished.filter((j) => j.state !== 'completed').map((j) => `${j.channelId}: ${j.error}`);
  if (failures.length) console.log(`failed jobs:\n  ${failures.join('\n  ')}`);
  await fs.rm(work, { recursive: true, force: true });
  if (failures.length || perChannel.some((n) => n < 1 || n > 2)) process.exitCode = 1;

  async function completed(): Promise<number> {
    return withDatabase(
      async (db) =>
        (await db.query(`SELECT count(*)::int AS n FROM training_job WHERE status = 'completed'`)).rows[0].n,
    );
  }
}

/** Jobs the slot's current process is running. */
async function runningIn(slot: Slot): Promise<number> {
  return withDatabase(
    async (db) =>
      (
        await db.query(`SELECT count(*)::int AS n FROM training_job WHERE status = 'running' AND worker_id LIKE $1`, [
          `%:${slot.process.pid}:%`,
        ])
      ).rows[0].n,
  );
}

/** Resident memory of a process in MB (its worker threads included), 0 once it is gone. */
async function residentMb(pid: number | undefined): Promise<number> {
  if (!pid) return 0;
  const status = await fs.readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return Math.round(kb / 1024);
}

function percentile(values: number[], p: number): number {
  if (!values.length) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return Math.round(sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)]);
}

/** "1: 38, 2: 2": how many items have each value. */
function histogram(values: number[]): string {
  const counts = new Map<number, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  return [...counts.entries()]
    .sort(([a], [b]) => a - b)
    .map(([v, n]) => `${v}: ${n}`)
    .join(', ');
}

function seconds(since: number): number {
  return Math.round((performance.now() - since) / 100) / 10;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
