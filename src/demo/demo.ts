/**
 * `npm run demo`: the service's main job end to end on this machine. It fetches a few products' photos of the public
 * Grocery Store Dataset (GROCERY_DATASET_URL; the list is demo-photos.txt) and photos of them taken on other days
 * (demo-scans.txt), starts a stand-in for the point-of-sale backend that serves them, starts the service
 * (`dist/main.js`, on its embedded database), and posts two training jobs: the shop's first model, from its photos,
 * then the next one, when the till's cashiers have confirmed scans (the other days' photos) by barcode. It shows
 * their progress, writes the second model the backend received into --out, says what it will do at the till and what
 * the scans changed, and stops everything it started.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { projectFile } from '../common/project-files';
import { loadConfig, type AppConfig } from '../config/app-config';
import { ConfigModule } from '../config/config.module';
import { DatasetModule } from '../dataset/dataset.module';
import { DatasetService } from '../dataset/dataset.service';
import { readPhotoList } from '../dataset/public-dataset';
import { METADATA_FILE, MODEL_FILES, MODEL_FILE, WEIGHTS_FILE } from '../export/teachable-machine-format';
import { qualityLines, type ModelQuality } from '../export/model-quality';
import { REPORT_FILE } from '../export/report';
import { EmbeddedPostgres } from '../database/embedded-postgres';
import { ServiceProcess } from './service-process';
import { StandInBackend, type ManifestProduct, type Upload } from './stand-in-backend';

const USAGE = `Usage: npm run demo [-- --out DIR]

Trains a model of five products of the Grocery Store Dataset through the whole service, as the point-of-sale
backend would, then the next model with the scans the till's cashiers confirmed, and writes that one into DIR
(default ./demo-model). Downloads at first run, into MODEL_CACHE_DIR: the base model (BASE_MODEL_URL) and the
negative bank's photos (GROCERY_DATASET_URL); every run fetches the demo's 60 photos and 64 scans from
GROCERY_DATASET_URL. Point both settings at local copies to run it offline.`;

/** Longest the demo waits for the service to answer /health (the embedded database's first start included). */
const START_TIMEOUT_MS = 180_000;
/** Longest the demo waits for the job (the first run downloads and embeds the negative bank too). */
const JOB_TIMEOUT_MS = 900_000;
const CHANNEL = 'demo';
/** The demo shop's photos: paths inside the Grocery Store Dataset's `dataset/` folder. */
export const DEMO_PHOTO_LIST = projectFile('src', 'demo', 'demo-photos.txt');
/**
 * The scans its till's cashiers confirm: photos of its products taken on other days (the dataset's val and test
 * photos), and of products it does not sell, confirmed as none.
 */
export const DEMO_SCAN_LIST = projectFile('src', 'demo', 'demo-scans.txt');

@Module({ imports: [ConfigModule, DatasetModule] })
class DemoModule {}

/** How long a failure waits to find out whether Ctrl-C caused it. */
const INTERRUPT_GRACE_MS = 300;

/** Set by Ctrl-C: from then on the demo only stops what it started, and says nothing more but one line. */
let interrupted = false;

/** Prints a line on stdout: what a user reads (nothing once interrupted). */
function say(line = ''): void {
  if (!interrupted) process.stdout.write(`${line}\n`);
}

/** Rejects as soon as `signal` aborts, whatever `work` is doing (its own end then does not matter). */
function unlessAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const abort = () => reject(signal.reason);
    signal.addEventListener('abort', abort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', abort));
  });
}

export async function runDemo(argv: string[]): Promise<number> {
  let out: string;
  try {
    const { values } = parseArgs({
      args: argv,
      options: { out: { type: 'string', default: 'demo-model' }, help: { type: 'boolean', short: 'h' } },
      strict: true,
    });
    if (values.help) {
      say(USAGE);
      return 0;
    }
    out = path.resolve(values.out!);
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n\n${USAGE}\n`);
    return 2;
  }
  const started = performance.now();
  const config = loadConfig();
  const work = await fs.mkdtemp(path.join(os.tmpdir(), 'ml-trainer-demo-'));
  // As root, the embedded PostgreSQL runs as the postgres account, which must pass through to its DATA_DIR.
  await fs.chmod(work, 0o711);
  const stops: (() => Promise<unknown>)[] = [];
  // Ctrl-C at any moment: every step gives up at once, what was started is stopped, nothing is written.
  const interrupt = new AbortController();
  const onInterrupt = () => {
    interrupted = true;
    interrupt.abort(new Error('interrupted'));
  };
  process.on('SIGINT', onInterrupt);
  // The service's log lives beside the demo's folder: when the demo fails, it is kept and says why.
  const log = `${work}.log`;
  let failed = false;
  try {
    return await demo(config, work, log, out, started, stops, interrupt.signal);
  } catch (err) {
    // Ctrl-C reaches the service too: its end can fail a request before this process has heard the signal.
    if (!interrupted) await new Promise((resolve) => setTimeout(resolve, INTERRUPT_GRACE_MS));
    if (interrupted) return 130;
    failed = true;
    process.stderr.write(`demo failed: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  } finally {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
    // A service stopped before its database was (or killed): the database must not outlive the demo.
    await EmbeddedPostgres.stopLeftOver(path.join(work, 'data', 'postgres')).catch(() => undefined);
    if (failed && existsSync(log)) process.stderr.write(`the service's log is kept: ${log}\n`);
    else await fs.rm(log, { force: true });
    await fs
      .rm(work, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 })
      .catch((err: Error) => process.stderr.write(`could not remove ${work}: ${err.message}\n`));
    process.off('SIGINT', onInterrupt);
    if (interrupted)
      process.stderr.write('interrupted (Ctrl-C): the demo stopped everything it started and wrote no model\n');
  }
}

async function demo(
  config: AppConfig,
  work: string,
  log: string,
  out: string,
  started: number,
  stops: (() => Promise<unknown>)[],
  signal: AbortSignal,
): Promise<number> {
  const seconds = () => ((performance.now() - started) / 1000).toFixed(1);
  const step = <T>(work: Promise<T>) => unlessAborted(work, signal);
  const [list, scanList] = await Promise.all([readPhotoList(DEMO_PHOTO_LIST), readPhotoList(DEMO_SCAN_LIST)]);
  say(
    `1. Fetching the demo shop's ${list.photos.length} photos and ${scanList.photos.length} scans from ` +
      config.GROCERY_DATASET_URL,
  );
  const app = await step(NestFactory.createApplicationContext(DemoModule, { logger: ['error', 'warn'] }));
  stops.push(() => app.close());
  const datasets = app.get(DatasetService);
  const fetchList = (photos: string[], folder: string) =>
    step(datasets.fromPublicDataset(config.GROCERY_DATASET_URL, photos, path.join(work, folder), { cancel: signal }));
  const shop = await fetchList(list.photos, 'download');
  const till = await fetchList(scanList.photos, 'download-scans');
  const missing = [...shop.skipped, ...till.skipped];
  if (missing.length)
    throw new Error(
      `${missing.length} of the demo's photos could not be had (first: ${missing[0].name}: ` +
        `${missing[0].reason}); set GROCERY_DATASET_URL to a copy of the dataset's dataset/ folder`,
    );

  // The backend's own asset store: the photos, one folder per product, and the till's scans, served at /assets/.
  const assets = path.join(work, 'assets');
  const store = async (from: string, relative: string) => {
    await fs.mkdir(path.dirname(path.join(assets, relative)), { recursive: true });
    await fs.copyFile(from, path.join(assets, relative));
  };
  for (const image of shop.images)
    await step(store(image.path, `${shop.labels[image.label].id}/${path.posix.basename(image.name)}`));
  for (const [i, scan] of till.images.entries()) await step(store(scan.path, `till/scan-${i + 1}.jpg`));
  const backendToken = randomBytes(16).toString('hex');
  const backend = await step(new StandInBackend(backendToken, assets).start());
  stops.push(() => backend.stop());
  const products: ManifestProduct[] = shop.labels.map((label, i) => ({
    productId: `product-${i + 1}`,
    productName: label.name,
    images: shop.images
      .filter((image) => image.label === i)
      .map((image, j) => ({
        assetId: `${i + 1}-${j + 1}`,
        url: backend.photoUrl(`${label.id}/${path.posix.basename(image.name)}`),
        filename: path.posix.basename(image.name),
      })),
  }));
  backend.manifests.set(CHANNEL, products);
  say(`   ${products.length} products: ${products.map((p) => p.productName).join(', ')}`);
  say(`2. A stand-in for the point-of-sale backend at ${backend.url} serves them`);

  const service = await startService(config, work, log, backend.url, stops, signal);
  say(
    `3. The service runs at ${service.url} (its database in ${work} and its log in ${log}, both removed at the ` +
      `end; the log is kept if the demo fails) [${seconds()} s]`,
  );

  const train = async (number: number, what: string) => {
    const job = (await service.call('POST', '/v1/train', {
      channelId: CHANNEL,
      manifestUrl: backend.manifestUrl(CHANNEL),
      webhookUrl: backend.webhookUrl,
      authToken: backendToken,
    })) as { jobId: string };
    say(`${number}. Job ${job.jobId} posted: ${what}; its progress:`);
    const view = await followJob(service, job.jobId, seconds);
    const upload = backend.uploads.at(-1)!;
    return { job, view, metadata: JSON.parse(upload.metadata.bytes.toString('utf8')) as ModelMetadata, upload };
  };
  const first = await train(4, "the shop's first model, from its photos");
  say(`   ${first.metadata.quality.headline}`);

  // At the till, a scan the model is not sure of ends with the barcode: the cashier has confirmed what it was.
  const productOf = new Map(shop.labels.map((label, i) => [label.id, products[i].productId]));
  // Taken since the first model: the next one says how both name them.
  const since = Date.now();
  const scans = till.images.map((scan, i) => ({
    assetId: `scan-${i + 1}`,
    url: backend.photoUrl(`till/scan-${i + 1}.jpg`),
    filename: `scan-${i + 1}.jpg`,
    productId: productOf.get(till.labels[scan.label].id) ?? null,
    takenAt: new Date(since + i).toISOString(),
  }));
  backend.scans.set(CHANNEL, scans);
  const none = scans.filter((s) => s.productId === null).length;
  say(
    `5. At the till, the cashiers scanned the barcode whenever the model was not sure: ${scans.length} confirmed ` +
      `scans (${scans.length - none} of the shop's products, ${none} of things it does not sell) come with the ` +
      `next manifest`,
  );
  const second = await train(6, "the next model, from the photos and the till's confirmed scans");
  signal.throwIfAborted();
  await writeModel(second.upload, out);
  await fs.writeFile(
    path.join(out, REPORT_FILE),
    (await service.call('GET', `/v1/jobs/${second.job.jobId}/report`)) as string,
  );
  say(`7. Done in ${seconds()} s: the backend received both models; the second is written to ${out}/ with its report`);
  say();
  describeModel(second.metadata, second.view.metrics?.warnings ?? [], out);
  return 0;
}

interface JobView {
  state: string;
  stage: string | null;
  progress: number;
  error: string | null;
  metrics: { warnings: string[] } | null;
}

/** Polls a job until it ends, printing a line per stage and quarter of the whole job, as the job record says. */
async function followJob(
  service: { call: (method: string, route: string) => Promise<unknown> },
  jobId: string,
  seconds: () => string,
): Promise<JobView> {
  const deadline = Date.now() + JOB_TIMEOUT_MS;
  let shown = '';
  for (;;) {
    const view = (await service.call('GET', `/v1/jobs/${jobId}`)) as JobView;
    const line = `${view.state}${view.stage ? `, ${view.stage}` : ''}, ${Math.floor(view.progress / 25) * 25} %`;
    if (line !== shown) say(`   ${line} [${seconds()} s]`);
    shown = line;
    if (view.state === 'failed') throw new Error(`the job failed: ${view.error}`);
    if (view.state === 'completed') return view;
    if (Date.now() > deadline) throw new Error(`the job did not finish within ${JOB_TIMEOUT_MS / 60_000} min`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/** The service as a child process on a free port, its own embedded database and folders under `work`. */
async function startService(
  config: AppConfig,
  work: string,
  log: string,
  backendUrl: string,
  stops: (() => Promise<unknown>)[],
  signal: AbortSignal,
) {
  const token = randomBytes(24).toString('hex');
  const service = new ServiceProcess(
    {
      ...process.env,
      NODE_ENV: 'development',
      ML_SERVICE_TOKEN: token,
      DATABASE_URL: '',
      DATA_DIR: path.join(work, 'data'),
      WORK_DIR: path.join(work, 'jobs'),
      MODEL_CACHE_DIR: config.MODEL_CACHE_DIR,
      BACKEND_INTERNAL_URL: backendUrl,
      SCHEDULER_ENABLED: 'false',
      // A job still running when the demo stops (Ctrl-C) is not waited for long.
      SHUTDOWN_GRACE_SECONDS: '2',
      // Only this machine reaches the demo's service.
      HOST: '127.0.0.1',
    },
    log,
  );
  // SIGTERM stops the service's embedded database too; SIGKILL after 30 s (5 s after Ctrl-C).
  stops.push(() => service.stop(interrupted ? 5_000 : 30_000));
  await unlessAborted(service.start(START_TIMEOUT_MS), signal);
  const call = async (method: string, route: string, body?: unknown): Promise<unknown> => {
    const response = await fetch(`${service.url}${route}`, {
      method,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`${method} ${route} answered ${response.status}: ${text}`);
    return response.headers.get('content-type')?.startsWith('text/html') ? text : (JSON.parse(text) as unknown);
  };
  return { url: service.url, call };
}

async function writeModel(upload: Upload, out: string): Promise<void> {
  await fs.mkdir(out, { recursive: true });
  await fs.writeFile(path.join(out, MODEL_FILE), upload.modelJson.bytes);
  await fs.writeFile(path.join(out, WEIGHTS_FILE), upload.weightsFile.bytes);
  await fs.writeFile(path.join(out, METADATA_FILE), upload.metadata.bytes);
}

interface ModelMetadata {
  quality: ModelQuality;
}

/**
 * What the shop gets, in the model's own words (metadata.json's `quality`, as the report and the job status say it:
 * with the till's scans, what they measured of this model and of the one before).
 */
function describeModel(metadata: ModelMetadata, warnings: string[], out: string): void {
  for (const line of qualityLines(metadata.quality, warnings)) say(line);
  say();
  say(`The model: ${MODEL_FILES.map((f) => path.join(out, f)).join(', ')}`);
  say(`Its report (every product, what it confuses, what to photograph next): ${path.join(out, REPORT_FILE)}`);
  say('Your own shop: npm run train -- --images ./photos --out ./model (one sub-folder of photos per product)');
}

if (require.main === module) {
  runDemo(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
