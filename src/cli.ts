#!/usr/bin/env node
/** The command-line trainer (`npm run train`): trains a model from a photo folder or a manifest, no service needed. */
import 'reflect-metadata';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { MultiBar, type SingleBar } from 'cli-progress';
import { ConfigError } from './config/app-config';
import { ConfigModule } from './config/config.module';
import { StderrLogger } from './common/stderr-logger';
import { INPUT_RANGES, MAX_UNKNOWN_SHARE, type InputRange } from './config/ml-choices';
import { DatasetModule } from './dataset/dataset.module';
import { DatasetService } from './dataset/dataset.service';
import { DatasetError, type Dataset } from './dataset/dataset.types';
import { count, qualityLines } from './export/model-quality';
import { ExportModule } from './export/export.module';
import { ExportService, type PublishedModel } from './export/export.service';
import { headOfPublishedModel } from './export/published-head';
import { REPORT_FILE } from './export/report';
import { METADATA_FILE, MODEL_FILE, WEIGHTS_FILE } from './export/teachable-machine-format';
import { BaseModelService } from './training/base-model.service';
import type { PreviousModel } from './training/till-scans';
import { BaseModelError, type DownloadProgress } from './training/ml';
import { FinalError } from './common/errors';
import { secondsSince } from './common/stage-timing';
import { MlWorkerPoolService } from './training/ml-worker-pool.service';
import { TrainerService, type ProgressListener } from './training/trainer.service';
import { TrainingModule } from './training/training.module';
import { NegativeBankError, NegativeBankService } from './training/negative-bank/negative-bank.service';

const USAGE = `Usage: npm run train -- (--images DIR | --manifest FILE|URL) --out DIR [options]
       npm run train -- --fetch-models [--base-model PATH|URL]

  --images DIR          one sub-folder per label; the folder name is the label
  --manifest FILE|URL   the backend's manifest JSON; labels are productIds, photos are downloaded
  --scans DIR           the till's confirmed scans: one sub-folder per product, named as its label (the
                        folder name with --images, the productId with --manifest); the newest are kept
  --scans-none DIR      scans the cashier confirmed as none of the products (photos in DIR itself)
  --previous-model DIR  the model the till has been running (a folder this CLI wrote): the new head's fit starts
                        from its head, and on the scans taken since it was trained, it is compared with the new one
  --out DIR             where model.json, weights.bin, metadata.json and report.html are written
                        (other files in DIR are left alone)
  --base-model PATH|URL tfjs layers model.json of the base (default: BASE_MODEL_URL)
  --unknown-share S     share of scans at the till that show something the shop does not sell, 0 to ${MAX_UNKNOWN_SHARE};
                        the recognition gate is calibrated for it (default: RECOGNITION_UNKNOWN_SHARE, 0.5)
  --input-range R       tm (x/127-1, Teachable Machine) or unit (x/255, rescaled in the model; the shop's
                        web app) (default: MODEL_INPUT_RANGE, tm)
  --json                print a one-line JSON summary last on stdout
  --verbose             also print what the services log (base model, embedding engine, negative bank)
  --fetch-models        only fetch what training needs into MODEL_CACHE_DIR: the base model (downloaded and
                        verified) and its negative bank (photos from GROCERY_DATASET_URL, embedded); print
                        where they are and exit (npm run fetch-models; the Docker image build runs this)
  -h, --help            this text`;

export interface CliOptions {
  images?: string;
  manifest?: string;
  scans?: string;
  scansNone?: string;
  previousModel?: string;
  out: string;
  baseModel?: string;
  unknownShare?: number;
  inputRange?: InputRange;
  json: boolean;
  verbose: boolean;
}

/** `--fetch-models`: fill the cache, train nothing. */
export interface FetchModelsOptions {
  fetchModels: true;
  baseModel?: string;
  verbose: boolean;
}

export class UsageError extends Error {}

/** Parses and checks the command line; a mistake throws UsageError with a message meant for the user. */
export function parseCliArgs(argv: string[]): CliOptions | FetchModelsOptions | 'help' {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        images: { type: 'string' },
        manifest: { type: 'string' },
        scans: { type: 'string' },
        'scans-none': { type: 'string' },
        'previous-model': { type: 'string' },
        out: { type: 'string' },
        'base-model': { type: 'string' },
        'unknown-share': { type: 'string' },
        'input-range': { type: 'string' },
        json: { type: 'boolean', default: false },
        verbose: { type: 'boolean', default: false },
        'fetch-models': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (values.help) return 'help';
  if (values['fetch-models']) {
    const others = Object.keys(values).filter(
      (k) => !['fetch-models', 'base-model', 'help', 'json', 'verbose'].includes(k),
    );
    if (others.length || values.json) throw new UsageError('--fetch-models takes only --base-model and --verbose');
    return {
      fetchModels: true,
      baseModel: values['base-model'] as string | undefined,
      verbose: values.verbose as boolean,
    };
  }
  if (!values.images === !values.manifest)
    throw new UsageError('give exactly one of --images DIR or --manifest FILE|URL');
  if (!values.out) throw new UsageError('--out DIR is required');
  let unknownShare: number | undefined;
  if (values['unknown-share'] !== undefined) {
    unknownShare = Number(values['unknown-share']);
    if (values['unknown-share'] === '' || !(unknownShare >= 0 && unknownShare <= MAX_UNKNOWN_SHARE))
      throw new UsageError(`--unknown-share must be a number from 0 to ${MAX_UNKNOWN_SHARE} (e.g. 0.25)`);
  }
  const inputRange = values['input-range'] as InputRange | undefined;
  if (inputRange !== undefined && !INPUT_RANGES.includes(inputRange)) {
    throw new UsageError(`--input-range must be one of ${INPUT_RANGES.join(', ')}`);
  }
  return {
    images: values.images as string | undefined,
    manifest: values.manifest as string | undefined,
    scans: values.scans as string | undefined,
    scansNone: values['scans-none'] as string | undefined,
    previousModel: values['previous-model'] as string | undefined,
    out: path.resolve(values.out as string),
    baseModel: values['base-model'] as string | undefined,
    unknownShare,
    inputRange,
    json: values.json as boolean,
    verbose: values.verbose as boolean,
  };
}

@Module({ imports: [ConfigModule, DatasetModule, TrainingModule, ExportModule] })
class CliModule {}

/** Elsewhere than on a terminal, a stage's progress is printed at its start and then at most this often. */
const PROGRESS_LINE_EVERY_MS = 3000;
/** What a stage that is not obvious does, said when it starts. */
const STAGE_INTROS: Record<string, string> = {
  'negative-bank':
    'negative-bank: fetching and embedding photos of products a shop does not sell (once per base model, cached)',
};

/**
 * Progress on a terminal as a bar per stage (and one for a base model's download), with log lines printed above the
 * bars (never into one); elsewhere as a line when a stage starts and then at most every PROGRESS_LINE_EVERY_MS.
 */
function progressReporter(logger: StderrLogger): {
  listener: ProgressListener;
  download: DownloadProgress;
  stop(): void;
} {
  if (process.stderr.isTTY) {
    // A set of bars from the first stage to stop(); the next stage after a stop starts a new set.
    let bars: MultiBar | undefined;
    let current: { stage: string; bar: SingleBar } | undefined;
    const show = (stage: string, fraction: number) => {
      if (stage !== current?.stage) {
        if (!bars) {
          const set = new MultiBar({
            format: '{stage} [{bar}] {percentage} %',
            stream: process.stderr,
            hideCursor: true,
          });
          // Lines go above the bars once there are bars (MultiBar prints them at its next redraw).
          logger.divert((text) => set.log(text));
          bars = set;
        }
        current = { stage, bar: bars.create(100, 0, { stage: stage.padEnd(13) }) };
      }
      current.bar.update(Math.round(fraction * 100));
    };
    return {
      listener: show,
      download: (received, total) => show('base model', received / total),
      stop: () => {
        if (!bars) return;
        bars.update(); // the last redraw prints the lines still waiting
        bars.stop();
        logger.divert(undefined);
        bars = undefined;
        current = undefined;
      },
    };
  }
  let current: string | undefined;
  let lastLine = 0;
  const show = (stage: string, fraction: number) => {
    const now = performance.now();
    if (stage === current && (now - lastLine < PROGRESS_LINE_EVERY_MS || fraction >= 1)) return;
    logger.say(stage === current ? `${stage} ${Math.floor(fraction * 100)} %` : (STAGE_INTROS[stage] ?? stage));
    current = stage;
    lastLine = now;
  };
  return {
    listener: show,
    download: (received, total) => show('base model', received / total),
    stop: () => undefined,
  };
}

async function loadDataset(
  datasets: DatasetService,
  options: CliOptions,
  workDir: string,
  onProgress: ProgressListener,
): Promise<Dataset> {
  const dataset = options.images
    ? await datasets.fromFolder(path.resolve(options.images))
    : await datasets.fromManifest(await datasets.readManifest(options.manifest!), workDir, (done, total) =>
        onProgress('downloading', done / total),
      );
  if (!options.scans && !options.scansNone) return dataset;
  return datasets.addScanFolders(
    dataset,
    options.scans && path.resolve(options.scans),
    options.scansNone && path.resolve(options.scansNone),
  );
}

/** --previous-model: the head of a model this CLI (or the service) wrote into `dir`. */
export async function readPreviousModel(dir: string): Promise<PreviousModel> {
  const read = (file: string) =>
    readFile(path.join(dir, file)).catch((err: NodeJS.ErrnoException) => {
      throw new DatasetError(`cannot read the previous model's ${file} in ${dir}: ${err.code ?? err}`);
    });
  const [modelJson, weightsFile, metadata] = await Promise.all([MODEL_FILE, WEIGHTS_FILE, METADATA_FILE].map(read));
  try {
    return headOfPublishedModel({ modelJson, weightsFile, metadata });
  } catch (err) {
    throw new DatasetError(`the previous model in ${dir} cannot be read: ${(err as Error).message}`);
  }
}

/** Every thread's CPU time (the workers' too) since the process started: what the run cost the machine. */
function cpuSecondsSoFar(): number {
  const { user, system } = process.cpuUsage();
  return Number(((user + system) / 1e6).toFixed(2));
}

function printSummary(summary: PublishedModel, options: CliOptions): void {
  if (options.json) {
    process.stdout.write(
      JSON.stringify({
        classes: summary.labels.length,
        labels: summary.labels,
        images: summary.images,
        skippedImages: summary.skipped,
        droppedLabels: summary.droppedLabels,
        warnings: summary.warnings,
        secondsPerStage: summary.secondsPerStage,
        validationAccuracy: summary.validationAccuracy,
        recognition: recognitionSummary(summary),
        quality: summary.quality,
        backend: summary.backend,
        workers: summary.workers,
        trainingId: summary.trainingId,
        peakRssMB: Math.round(process.resourceUsage().maxRSS / 1024),
        cpuSeconds: cpuSecondsSoFar(),
        outputs: Object.fromEntries(Object.entries(summary.files).map(([name, file]) => [name, file.path])),
      }) + '\n',
    );
    return;
  }
  const stages = Object.entries(summary.secondsPerStage)
    .filter(([stage]) => stage !== 'total')
    .map(([stage, s]) => `${stage} ${s.toFixed(1)} s`);
  const scans = summary.recognition.tillScans;
  const scanCount = scans ? ` and ${count(scans.ofProducts + scans.ofNone, 'confirmed scan')}` : '';
  const lines = [
    `Trained ${count(summary.labels.length, 'product')} on ${count(summary.images, 'photo')}${scanCount} in ` +
      `${summary.secondsPerStage.total.toFixed(1)} s (${stages.join(', ')}; ${count(summary.cachedImages, 'photo')} ` +
      `from the embedding cache).`,
    '',
    ...qualityLines(summary.quality, summary.warnings),
    ...(summary.droppedLabels.length
      ? [`Products without a usable photo (left out): ${summary.droppedLabels.join(', ')}`]
      : []),
    ...(summary.skipped.length
      ? [
          `${count(summary.skipped.length, 'photo')} left out:`,
          ...summary.skipped.map((s) => `  ${s.name} [${s.label}]: ${s.reason}`),
        ]
      : []),
    '',
    `The model: ${([MODEL_FILE, WEIGHTS_FILE, METADATA_FILE] as const).map((f) => summary.files[f].path).join(', ')}`,
    `Its report (every product, what it confuses, what to photograph next): ${summary.files[REPORT_FILE].path}`,
    `Load it with Teachable Machine's @teachablemachine/image or the shop's web app (docs/accuracy.md, "Two clients, two input ranges").`,
  ];
  process.stdout.write(lines.join('\n') + '\n');
}

/** The gate's figures, without the advice (which is in `warnings`). */
function recognitionSummary({ recognition }: PublishedModel) {
  const { lookAlikes: _lookAlikes, advice: _advice, ...gate } = recognition;
  return gate;
}

export async function runCli(argv: string[]): Promise<number> {
  let options: CliOptions | FetchModelsOptions | 'help';
  try {
    options = parseCliArgs(argv);
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n\n${USAGE}\n`);
    return 2;
  }
  if (options === 'help') {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  const logger = new StderrLogger(options.verbose);
  const workDir = await mkdtemp(path.join(os.tmpdir(), 'ml-trainer-'));
  const progress = progressReporter(logger);
  let app: Awaited<ReturnType<typeof NestFactory.createApplicationContext>> | undefined;
  try {
    app = await NestFactory.createApplicationContext(CliModule, { logger, abortOnError: false });
    const baseModels = app.get(BaseModelService);
    if ('fetchModels' in options) {
      const files = await baseModels.get(options.baseModel, progress.download);
      progress.stop();
      process.stdout.write(`base model: ${files.modelJsonPath}\n`);
      const { bank, dir } = await app
        .get(NegativeBankService)
        .require(files, (fraction) => progress.listener('negative-bank', fraction));
      progress.stop();
      process.stdout.write(`negative bank: ${bank.photos.length} photos, in ${dir}\n`);
      return 0;
    }
    const started = performance.now();
    // The workers start while the photos are read (a process that trains starts them anyway).
    void app.get(MlWorkerPoolService).warmUp();
    const dataset = await loadDataset(app.get(DatasetService), options, workDir, progress.listener);
    const downloading = options.manifest ? { downloading: secondsSince(started) } : {};
    // Resolved before the training, so that a first download shows its own bar (the training finds it resolved).
    await baseModels.get(options.baseModel, progress.download);
    const previousModel = options.previousModel ? await readPreviousModel(options.previousModel) : undefined;
    const trained = await app.get(TrainerService).train(
      {
        dataset,
        baseModel: options.baseModel,
        unknownShare: options.unknownShare,
        previousModel,
        secondsPerStage: downloading,
      },
      progress.listener,
    );
    const summary = await app
      .get(ExportService)
      .publish(
        { trained, outDir: options.out, modelName: path.basename(options.out), inputRange: options.inputRange },
        progress.listener,
      );
    progress.stop();
    summary.secondsPerStage.total = secondsSince(started);
    printSummary(summary, options);
    return 0;
  } catch (err) {
    progress.stop();
    // A final error says what to fix (bad input, a damaged base model); so do these.
    const known =
      err instanceof FinalError ||
      err instanceof BaseModelError ||
      err instanceof ConfigError ||
      err instanceof NegativeBankError;
    if (known) logger.error((err as Error).message);
    // Anything else is a fault of the program: its stack is what a report of it needs.
    else logger.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
    return 1;
  } finally {
    await app?.close();
    await rm(workDir, { recursive: true, force: true });
  }
}

if (require.main === module) {
  runCli(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
