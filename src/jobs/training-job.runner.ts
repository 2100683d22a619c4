import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { Injectable, Logger } from '@nestjs/common';
import { isLocalDiskError } from '../common/local-disk';
import { stripControlCharacters } from '../common/validation';
import { AppConfig } from '../config/app-config';
import { DatasetService } from '../dataset/dataset.service';
import type { SkippedImage } from '../dataset/dataset.types';
import { METADATA_FILE, MODEL_FILE, WEIGHTS_FILE, type InputRange } from '../export/teachable-machine-format';
import { BackendClient, type BackendTarget } from '../backend/backend-client.service';
import type { ModelFiles } from '../backend/backend-contract';
import { overallProgress, ProgressThrottle } from './job-progress';
import type { JobResult, JobSkip } from './training-job.entity';
import { secondsSince, TrainerService, type Stage, type TrainingSummary } from '../training/trainer.service';
import { FinalError, TrainerError } from '../common/errors';

/** What the runner needs to know about the job it runs. */
export interface JobTicket {
  jobId: string;
  channelId: string;
  manifestUrl: string;
  target: BackendTarget;
  inputRange?: InputRange;
  /** The model an earlier attempt trained and kept, whose upload was not confirmed: uploaded again as it is. */
  trained?: TrainedJobModel;
}

/** A trained model ready for upload, with what the job record says about it. */
export interface TrainedJobModel {
  files: ModelFiles;
  outcome: JobOutcome;
}

/** How the runner reports to the job's owner (the jobs service writes it to the job record). */
export interface JobReporter {
  progress(stage: Stage, progress: number): void;
  skipped(skips: JobSkip[]): void;
  /** Resolves false when another process has taken the job over (this attempt must stop). */
  stillOwned(): Promise<boolean>;
  /** Keeps the trained model with the job before it is uploaded; throws when it could not be kept. */
  trained(model: TrainedJobModel): Promise<void>;
}

export interface JobOutcome {
  result: JobResult;
  timings: Record<string, number>;
  skips: JobSkip[];
}

/** At most this many skipped photos are kept in a job record. */
const MAX_RECORDED_SKIPS = 500;
/** At most this many skipped photos are logged one by one; the job record lists them all. */
const MAX_LOGGED_SKIPS = 10;

/** The job was taken over by another process while this attempt ran. */
export class JobLostError extends TrainerError {}

/** This machine's disk refused a write (full, read-only, no permission): retried, as space may come back. */
export class LocalDiskError extends TrainerError {}

/** The attempt ran past JOB_TIMEOUT_SECONDS: the job fails (another attempt would most likely take as long). */
export class JobTimeoutError extends FinalError {}

/**
 * Runs one attempt of a job: manifest → photos → model → upload, with status webhooks along the way. All working
 * files live in WORK_DIR/<jobId> and are removed at the end, whatever happens. An attempt gets JOB_TIMEOUT_SECONDS:
 * then it ends at once with JobTimeoutError, its requests are cancelled, its tasks running in worker threads are cut
 * off (the threads are replaced), and it sends nothing more to the backend.
 */
@Injectable()
export class TrainingJobRunner {
  private readonly logger = new Logger(TrainingJobRunner.name);

  constructor(
    private readonly config: AppConfig,
    private readonly datasets: DatasetService,
    private readonly trainer: TrainerService,
    private readonly backend: BackendClient,
  ) {}

  async run(ticket: JobTicket, reporter: JobReporter): Promise<JobOutcome> {
    const limit = this.config.JOB_TIMEOUT_SECONDS;
    const ceiling = new AbortController();
    const timer = setTimeout(
      () => ceiling.abort(new JobTimeoutError(`the attempt ran longer than JOB_TIMEOUT_SECONDS (${limit} s)`)),
      limit * 1000,
    );
    const attempt = this.attempt(ticket, reporter, ceiling.signal);
    const timedOut = new Promise<never>((_, reject) =>
      ceiling.signal.addEventListener('abort', () => reject(ceiling.signal.reason as Error), { once: true }),
    );
    try {
      return await Promise.race([attempt, timedOut]);
    } finally {
      clearTimeout(timer);
      // After a timeout the attempt winds down on its own (its requests and worker tasks are cancelled); its end is
      // of no interest.
      attempt.catch(() => undefined);
      timedOut.catch(() => undefined);
    }
  }

  private async attempt(ticket: JobTicket, reporter: JobReporter, stop: AbortSignal): Promise<JobOutcome> {
    const workDir = path.join(this.config.WORK_DIR, ticket.jobId);
    await fs.rm(workDir, { recursive: true, force: true });
    await fs.mkdir(workDir, { recursive: true });
    // Every request to the backend on this attempt's behalf is cancelled at its ceiling.
    const target: BackendTarget = { ...ticket.target, signal: stop };
    const webhooks = new StatusQueue(this.backend, target);
    const throttle = new ProgressThrottle();
    const report = (stage: Stage, fraction: number) => {
      if (stop.aborted) return;
      const progress = overallProgress(stage, fraction);
      reporter.progress(stage, progress);
      if (throttle.shouldReport(stage, progress)) webhooks.send(progress);
    };
    try {
      let trained = ticket.trained;
      if (trained) {
        this.logger.log(
          `uploading the model an earlier attempt trained (trainingId ${trained.outcome.result.trainingId}) again`,
        );
      } else {
        trained = await this.train(ticket, workDir, report, reporter, stop);
        stop.throwIfAborted();
        await reporter.trained(trained);
      }
      stop.throwIfAborted();
      if (!(await reporter.stillOwned())) throw new JobLostError('another process took this job over');
      const uploadStart = performance.now();
      report('uploading', 0);
      await webhooks.drain();
      await this.backend.uploadModel(target, trained.files);
      reporter.progress('uploading', 100);
      this.logger.log('model uploaded to the backend');
      const { outcome } = trained;
      return { ...outcome, timings: { ...outcome.timings, uploading: secondsSince(uploadStart) } };
    } catch (err) {
      if (stop.aborted) throw stop.reason;
      if (isLocalDiskError(err))
        throw new LocalDiskError(
          `this service's disk refused a write (WORK_DIR or MODEL_CACHE_DIR full or not writable): ${(err as Error).message}`,
        );
      throw err;
    } finally {
      await webhooks.drain();
      await fs
        .rm(workDir, { recursive: true, force: true })
        .catch((err) => this.logger.warn(`could not remove ${workDir}: ${err}`));
    }
  }

  /** Manifest, photos and training: the model's files and what the job record says about them. */
  private async train(
    ticket: JobTicket,
    workDir: string,
    report: (stage: Stage, fraction: number) => void,
    reporter: JobReporter,
    stop: AbortSignal,
  ): Promise<TrainedJobModel> {
    const started = performance.now();
    report('downloading', 0);
    const { policy, authToken } = ticket.target;
    const manifest = await this.datasets.fetchManifest(ticket.manifestUrl, authToken, policy, stop);
    const onDownload = (done: number, total: number) => report('downloading', done / total);
    const dataset = await this.datasets.fromManifest(manifest, workDir, onDownload, policy, stop);
    const downloading = secondsSince(started);
    this.logger.log(
      `dataset ready in ${downloading} s: ${dataset.images.length} photos of ${dataset.labels.length} products, ${dataset.skipped.length} skipped`,
    );
    this.logSkips(dataset.skipped);
    reporter.skipped(toSkips(dataset.skipped, []));
    stop.throwIfAborted();
    const summary = await this.trainer.train(
      {
        dataset,
        outDir: path.join(workDir, 'model'),
        modelName: `channel-${ticket.channelId}`,
        inputRange: ticket.inputRange,
        secondsPerStage: { downloading },
        userMetadata: { channelId: ticket.channelId, manifestVersion: dataset.manifest.version },
        cancel: stop,
      },
      report,
    );
    stop.throwIfAborted();
    this.logger.log(
      `model trained: ${summary.labels.length} products, ${summary.images} photos, validation accuracy ${summary.validationAccuracy ?? 'n/a'}`,
    );
    const skips = toSkips(summary.skipped, summary.droppedLabels);
    reporter.skipped(skips);
    return {
      files: {
        modelJson: await fs.readFile(summary.files[MODEL_FILE]),
        weightsFile: await fs.readFile(summary.files[WEIGHTS_FILE]),
        metadata: await fs.readFile(summary.files[METADATA_FILE]),
      },
      outcome: { result: resultOf(summary), timings: summary.secondsPerStage, skips },
    };
  }

  private logSkips(skipped: SkippedImage[]): void {
    for (const s of skipped.slice(0, MAX_LOGGED_SKIPS))
      this.logger.warn(`photo skipped: ${clip(s.label)} / ${clip(s.name)}: ${s.reason}`);
    if (skipped.length > MAX_LOGGED_SKIPS)
      this.logger.warn(`${skipped.length - MAX_LOGGED_SKIPS} more skipped photos are listed in the job record`);
  }
}

/**
 * Sends a job's status webhooks one at a time, in order, without making the job wait for them. Updates that pile
 * up while one is being sent (or retried) collapse into the latest, so a slow backend delays the job by at most one.
 */
export class StatusQueue {
  private latest: number | undefined;
  private sending: Promise<void> | undefined;

  constructor(
    private readonly backend: BackendClient,
    /** Once its signal is aborted, nothing more is sent. */
    private readonly target: BackendTarget,
  ) {}

  send(progress: number): void {
    if (this.target.signal?.aborted) return;
    this.latest = progress;
    this.sending ??= this.sendLatest();
  }

  async drain(): Promise<void> {
    await this.sending;
  }

  private async sendLatest(): Promise<void> {
    while (this.latest !== undefined && !this.target.signal?.aborted) {
      const progress = this.latest;
      this.latest = undefined;
      await this.backend.sendStatus(this.target, 'training', progress);
    }
    this.sending = undefined;
  }
}

/** Names come from the manifest: a line of log gets at most 100 characters of one. */
function clip(text: string): string {
  return text.length > 100 ? `${text.slice(0, 100)}…` : text;
}

function toSkips(skipped: SkippedImage[], droppedLabels: string[]): JobSkip[] {
  return [
    ...droppedLabels.map((label) => ({
      product: label,
      photo: '',
      reason: 'no usable photo: product left out of the model',
    })),
    // A reason may quote a remote peer's words; the record (jsonb) cannot hold a NUL.
    ...skipped.map((s) => ({ product: s.label, photo: s.name, reason: stripControlCharacters(s.reason) })),
  ].slice(0, MAX_RECORDED_SKIPS);
}

function resultOf(summary: TrainingSummary): JobResult {
  return {
    trainingId: summary.trainingId,
    products: summary.labels.length,
    images: summary.images,
    skippedImages: summary.skipped.length,
    droppedProducts: summary.droppedLabels,
    validationAccuracy: summary.validationAccuracy,
    recognition: summary.recognition,
    backend: summary.backend,
  };
}
