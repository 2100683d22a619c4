/** One attempt of one training job: claim its record, manifest → photos → model → upload, and write its end. */
import { randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Injectable, Logger } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import { egressPolicy } from '../common/egress';
import { FinalError, isFinal, TrainerError } from '../common/errors';
import { isLocalDiskError } from '../common/local-disk';
import { hideLocalPaths } from '../common/local-paths';
import { jobEnded, registerJobSecret, registerSecret } from '../auth/secrets';
import { TokenSeal } from '../auth/token-seal';
import { clipped, stripControlCharacters } from '../common/validation';
import { untilDatabaseAnswers } from '../database/database-errors';
import { DatasetService } from '../dataset/dataset.service';
import type { SkippedImage } from '../dataset/dataset.types';
import { ExportService, type PublishedModel } from '../export/export.service';
import { REPORT_FILE } from '../export/report';
import { METADATA_FILE, MODEL_FILE, WEIGHTS_FILE } from '../export/teachable-machine-format';
import { BackendClient, type BackendTarget } from '../backend/backend-client.service';
import { StatusQueue } from '../backend/status-queue';
import { withLogContext } from '../logging/log-context';
import { MetricsService } from '../metrics/metrics.service';
import { headOfPublishedModel } from '../export/published-head';
import type { PreviousModel } from '../training/till-scans';
import { secondsSince } from '../common/stage-timing';
import { TrainerService, type ProgressListener, type Stage } from '../training/trainer.service';
import { JobEvents } from './job-events';
import { overallProgress, ProgressThrottle } from './job-progress';
import { JobRecordsRepository, recordableError } from './job-records.repository';
import type { TrainedJobModel } from './trained-model.entity';
import type { JobOutcome, JobResult, JobSkip, TrainingJob } from './training-job.entity';

/** The job was taken over by another process (or handed back) while this attempt ran. */
export class JobLostError extends TrainerError {}

/** This machine's disk refused a write (full, read-only, no permission): retried, as space may come back. */
export class LocalDiskError extends TrainerError {}

/** The attempt ran past JOB_TIMEOUT_SECONDS: the job fails (another attempt would most likely take as long). */
export class JobTimeoutError extends FinalError {}

/** The job's sealed token cannot be opened (another ML_SERVICE_TOKEN): no attempt can. */
class TokenUnreadableError extends FinalError {}

/** An attempt in this process: `claim` settles once its record says so (null: the job ended already), `done` when the attempt ends. */
export interface RunningAttempt {
  claim: Promise<TrainingJob | null>;
  done: Promise<void>;
}

/** At most this many skipped photos are kept in a job record. */
const MAX_RECORDED_SKIPS = 500;
/** At most this many skipped photos are logged one by one; the job record lists them all. */
const MAX_LOGGED_SKIPS = 10;
/** The record's progress is written at most this often within a stage. */
const RECORD_PROGRESS_EVERY_MS = 500;

/** What the steps of one attempt share. */
interface AttemptScope {
  job: TrainingJob;
  /** The job's backend, its requests cancelled at the attempt's ceiling. */
  target: BackendTarget;
  workDir: string;
  /** Progress of the attempt's stages: to the record, the listeners and the backend's status webhook. */
  onProgress: ProgressListener;
  stop: AbortSignal;
}

/**
 * Runs one attempt of a job and keeps its record and the backend told: every status webhook (`training` with
 * progress, `failed` at the end) goes out from here. All working files live in WORK_DIR/<jobId> and are removed at
 * the end, whatever happens. An attempt gets JOB_TIMEOUT_SECONDS: then it ends at once with JobTimeoutError, its
 * requests are cancelled, its tasks running in worker threads are cut off (the threads are replaced), and it sends
 * nothing more to the backend.
 */
@Injectable()
export class JobProcessor {
  private readonly logger = new Logger(JobProcessor.name);
  /** Identifies this process in job records. */
  readonly workerId = `${os.hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  constructor(
    private readonly config: AppConfig,
    private readonly records: JobRecordsRepository,
    private readonly backend: BackendClient,
    private readonly datasets: DatasetService,
    private readonly trainer: TrainerService,
    private readonly exporter: ExportService,
    private readonly events: JobEvents,
    private readonly metrics: MetricsService,
    private readonly seal: TokenSeal,
  ) {
    registerSecret(config.ML_SERVICE_TOKEN);
  }

  /** The folders a job's error must not show (see hideLocalPaths). */
  private get localFolders(): Record<string, string> {
    const { MODEL_CACHE_DIR, WORK_DIR, DATA_DIR, embeddingCacheDir } = this.config;
    return { MODEL_CACHE_DIR, WORK_DIR, DATA_DIR, EMBEDDING_CACHE_DIR: embeddingCacheDir };
  }

  /**
   * Attempt `attempt` of a job, as the queue hands it over. `done` rejects when the attempt failed and the queue
   * should retry it (or, with JobLostError, when the job is no longer this attempt's); it resolves when the job
   * completed, failed for good, or had ended already.
   */
  start(jobId: string, attempt: number): RunningAttempt {
    const claim = this.claim(jobId, attempt);
    const done = claim
      .then((job) =>
        job ? withLogContext({ jobId, channelId: job.channelId }, () => this.attempt(job, attempt)) : undefined,
      )
      .finally(() => jobEnded(jobId));
    return { claim, done };
  }

  /** The job, once its record says it runs here; null when it has ended already. */
  private async claim(jobId: string, attempt: number): Promise<TrainingJob | null> {
    const job = await this.records.claim(jobId, attempt, this.workerId);
    if (job) return job;
    const record = await this.records.find(jobId);
    // Still running elsewhere (or stuck there): failing this attempt keeps the queue entry alive until the record
    // is queued again or ends, where completing it would leave the job with no queue entry at all.
    if (record?.status === 'running') throw new Error(`job ${jobId} is running in ${record.workerId}; not started`);
    this.logger.warn(`job ${jobId} is ${record?.status ?? 'gone'}; attempt ${attempt} skipped`);
    return null;
  }

  /**
   * Runs the attempt and writes its outcome to the record, if the record is still ours. When it is not (another
   * process or a shutdown handed the job back meanwhile), JobLostError fails the queue's hold on this attempt:
   * completing it could complete another process's run of the job.
   */
  private async attempt(job: TrainingJob, attempt: number): Promise<void> {
    this.logger.log(`job ${job.id} (channel ${job.channelId}) attempt ${attempt}/${job.maxAttempts} started`);
    await this.events.started(job);
    let target: BackendTarget | undefined;
    let outcome: JobOutcome;
    let model: PreviousModel | undefined;
    try {
      const jobTarget = this.targetOf(job);
      target = jobTarget;
      ({ outcome, model } = await this.withCeiling((stop) => this.run(job, jobTarget, stop)));
    } catch (err) {
      const message = hideLocalPaths(recordableError(err), this.localFolders);
      if (err instanceof JobLostError) {
        this.logger.warn(`job ${job.id} attempt ${attempt} abandoned: ${message}`);
        throw err;
      }
      // A ceiling reached with the model kept (while uploading it) is worth another attempt: it only uploads again.
      const final =
        isFinal(err) &&
        !(err instanceof JobTimeoutError && (await this.records.hasKeptModel(job.id).catch(() => false)));
      if (!final && attempt < job.maxAttempts) {
        const requeued = await this.patiently(`job ${job.id} retry`, () =>
          this.records.requeue(job.id, this.workerId, `attempt ${attempt} failed: ${message}; retrying`),
        );
        if (!requeued) throw new JobLostError('the job was handed back while this attempt failed');
        this.logger.warn(`job ${job.id} attempt ${attempt} failed, will retry: ${message}`);
        throw err;
      }
      if (!(await this.fail(job, message, this.workerId, target)))
        throw new JobLostError('the job was handed back while this attempt failed');
      return;
    }
    // The model is with the backend: its record waits for the database however long it takes (the heartbeat
    // keeps the job ours meanwhile), rather than count a finished training as failed.
    const completed = await this.patiently(
      `job ${job.id} completion`,
      () => this.records.complete(job.id, this.workerId, outcome, model),
      Infinity,
    );
    if (!completed) throw new JobLostError('the job was handed back before this attempt finished');
    this.logger.log(`job ${job.id} completed: ${outcome.result.products} products, ${outcome.result.images} photos`);
    this.recordMetrics(outcome.timings, outcome.result.images);
    await this.events.succeeded(job);
  }

  /**
   * Fails the job for good if its record is still held by `heldBy` (null: still queued, for a job whose attempts
   * were all interrupted), and tells the listeners and the backend; false if the record changed meanwhile.
   * `target` defaults to the job's own (none when its token cannot be opened).
   */
  async fail(
    job: TrainingJob,
    message: string,
    heldBy: string | null,
    target: BackendTarget | undefined = this.targetOrNone(job),
  ): Promise<boolean> {
    const failed = await this.patiently(`job ${job.id} failure`, () => this.records.fail(job.id, heldBy, message));
    if (!failed) return false;
    this.metrics.jobsFinished.inc({ outcome: 'failed' });
    this.logger.error(`job ${job.id} (channel ${job.channelId}) failed: ${message}`);
    await this.events.failed(job, message);
    if (target) await this.backend.sendStatus(target, 'failed', null, message);
    return true;
  }

  /** Runs `work` with the attempt's ceiling: past JOB_TIMEOUT_SECONDS its signal aborts and the attempt ends at once. */
  private async withCeiling<T>(work: (stop: AbortSignal) => Promise<T>): Promise<T> {
    const limit = this.config.JOB_TIMEOUT_SECONDS;
    const ceiling = new AbortController();
    const timer = setTimeout(
      () => ceiling.abort(new JobTimeoutError(`the attempt ran longer than JOB_TIMEOUT_SECONDS (${limit} s)`)),
      limit * 1000,
    );
    const running = work(ceiling.signal);
    const timedOut = new Promise<never>((_, reject) =>
      ceiling.signal.addEventListener('abort', () => reject(ceiling.signal.reason as Error), { once: true }),
    );
    try {
      return await Promise.race([running, timedOut]);
    } finally {
      clearTimeout(timer);
      // After a timeout the attempt winds down on its own (its requests and worker tasks are cancelled); its end is
      // of no interest.
      running.catch(() => undefined);
      timedOut.catch(() => undefined);
    }
  }

  /**
   * The model (trained now, or kept by an earlier attempt) uploaded: what the job record says then, and the model's
   * head, kept as the channel's last accepted model.
   */
  private async run(
    job: TrainingJob,
    jobTarget: BackendTarget,
    stop: AbortSignal,
  ): Promise<{ outcome: JobOutcome; model?: PreviousModel }> {
    const workDir = path.join(this.config.WORK_DIR, job.id);
    await fs.rm(workDir, { recursive: true, force: true });
    await fs.mkdir(workDir, { recursive: true });
    // Every request to the backend on this attempt's behalf is cancelled at its ceiling.
    const target: BackendTarget = { ...jobTarget, signal: stop };
    const webhooks = new StatusQueue(this.backend, target);
    const throttle = new ProgressThrottle();
    const writeProgress = this.progressWriter(job);
    const onProgress: ProgressListener = (stage, fraction) => {
      if (stop.aborted) return;
      const progress = overallProgress(stage, fraction);
      writeProgress(stage, progress);
      if (throttle.shouldReport(stage, progress)) webhooks.send(progress);
    };
    try {
      const trained = await this.keptOrTrained({ job, target, workDir, onProgress, stop });
      stop.throwIfAborted();
      const owned = await this.patiently(`job ${job.id} ownership check`, () =>
        this.records.isRunningIn(job.id, this.workerId),
      );
      if (!owned) throw new JobLostError('another process took this job over');
      const uploadStart = performance.now();
      onProgress('uploading', 0);
      await webhooks.drain();
      await this.backend.uploadModel(target, trained.files);
      writeProgress('uploading', 100);
      this.logger.log('model uploaded to the backend');
      const { outcome } = trained;
      return {
        outcome: { ...outcome, timings: { ...outcome.timings, uploading: secondsSince(uploadStart) } },
        model: this.headOf(job, trained),
      };
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

  /**
   * The model an earlier attempt trained and kept (its upload was not confirmed: uploaded again as it is), or a new
   * one, kept with the job before it is uploaded.
   */
  private async keptOrTrained(scope: AttemptScope): Promise<TrainedJobModel> {
    const { job, stop } = scope;
    const kept = await this.patiently(`job ${job.id} kept model`, () => this.records.keptModel(job.id));
    if (kept) {
      this.logger.log(
        `uploading the model an earlier attempt trained (trainingId ${kept.outcome.result.trainingId}) again`,
      );
      return kept;
    }
    const trained = await this.train(scope);
    stop.throwIfAborted();
    if (!(await this.patiently(`job ${job.id} model`, () => this.records.keepModel(job.id, this.workerId, trained))))
      throw new JobLostError('another process took this job over');
    return trained;
  }

  /** Manifest, photos and training: the model's files and what the job record says about them. */
  private async train({ job, target, workDir, onProgress, stop }: AttemptScope): Promise<TrainedJobModel> {
    const started = performance.now();
    onProgress('downloading', 0);
    const manifest = await this.backend.fetchManifest(job.manifestUrl, target);
    const onDownload = (done: number, total: number) => onProgress('downloading', done / total);
    const dataset = await this.datasets.fromManifest(manifest, workDir, onDownload, target.policy, stop);
    const downloading = secondsSince(started);
    this.logger.log(
      `dataset ready in ${downloading} s: ${dataset.images.length} photos of ${dataset.labels.length} products, ${dataset.scans?.length ?? 0} of the till's scans, ${dataset.skipped.length} skipped`,
    );
    this.logSkips(dataset.skipped);
    this.writeSkips(job.id, toSkips(dataset.skipped, []));
    stop.throwIfAborted();
    // The channel's last accepted model: the retrain starts from its head, and scans since are scored by both.
    const previousModel = await this.patiently(`job ${job.id} last model`, () => this.records.lastModel(job.channelId));
    const trained = await this.trainer.train(
      {
        dataset,
        unknownShare: job.unknownShare ?? undefined,
        previousModel: previousModel ?? undefined,
        secondsPerStage: { downloading },
        cancel: stop,
      },
      onProgress,
    );
    const summary = await this.exporter.publish(
      {
        trained,
        outDir: path.join(workDir, 'model'),
        modelName: `channel-${job.channelId}`,
        inputRange: job.inputRange ?? undefined,
        userMetadata: { channelId: job.channelId, manifestVersion: dataset.manifest.version },
        cancel: stop,
      },
      onProgress,
    );
    stop.throwIfAborted();
    this.logger.log(
      `model trained: ${summary.labels.length} products, ${summary.images} photos, validation accuracy ${summary.validationAccuracy ?? 'n/a'}`,
    );
    for (const warning of recordedWarnings(summary.warnings)) this.logger.warn(`job ${job.id}: ${warning}`);
    const skips = toSkips(summary.skipped, summary.droppedLabels);
    this.writeSkips(job.id, skips);
    return {
      files: {
        modelJson: summary.files[MODEL_FILE].bytes,
        weightsFile: summary.files[WEIGHTS_FILE].bytes,
        metadata: summary.files[METADATA_FILE].bytes,
      },
      outcome: {
        result: resultOf(summary),
        timings: summary.secondsPerStage,
        skips,
        report: summary.files[REPORT_FILE].bytes.toString('utf8'),
      },
    };
  }

  /**
   * The uploaded model's head, read back from its files, for the channel's next training (a model whose files cannot
   * be read so is not kept as the last: the next training then has no model to compare with, and says nothing of it).
   */
  private headOf(job: TrainingJob, trained: TrainedJobModel): PreviousModel | undefined {
    try {
      return headOfPublishedModel(trained.files);
    } catch (err) {
      this.logger.warn(`job ${job.id}: the model's head could not be read back: ${(err as Error).message}`);
      return undefined;
    }
  }

  /** Writes progress to the record (and tells listeners) at most twice a second, and at every stage change. */
  private progressWriter(job: TrainingJob): (stage: Stage, progress: number) => void {
    let last = 0;
    let lastStage: Stage | undefined;
    return (stage, progress) => {
      const now = Date.now();
      if (stage === lastStage && now - last < RECORD_PROGRESS_EVERY_MS && progress < 100) return;
      last = now;
      lastStage = stage;
      void this.records.writeProgress(job.id, this.workerId, stage, progress).catch(() => undefined);
      void this.events.progress(job, progress);
    };
  }

  private writeSkips(jobId: string, skips: JobSkip[]): void {
    void this.records.writeSkips(jobId, skips).catch(() => undefined);
  }

  private logSkips(skipped: SkippedImage[]): void {
    for (const s of skipped.slice(0, MAX_LOGGED_SKIPS))
      this.logger.warn(`photo skipped: ${clipped(s.label, 100)} / ${clipped(s.name, 100)}: ${s.reason}`);
    if (skipped.length > MAX_LOGGED_SKIPS)
      this.logger.warn(`${skipped.length - MAX_LOGGED_SKIPS} more skipped photos are listed in the job record`);
  }

  private recordMetrics(timings: Record<string, number>, images: number): void {
    this.metrics.jobsFinished.inc({ outcome: 'completed' });
    for (const [stage, seconds] of Object.entries(timings)) this.metrics.stageSeconds.observe({ stage }, seconds);
    this.metrics.imagesEmbedded.inc(images);
    if (timings.embedding > 0) this.metrics.imagesPerSecond.set(images / timings.embedding);
  }

  private targetOf(job: TrainingJob): BackendTarget {
    let authToken: string;
    try {
      authToken = this.seal.open(job.sealedAuthToken);
    } catch {
      throw new TokenUnreadableError(
        "the job's backend token cannot be decrypted (was ML_SERVICE_TOKEN changed since it was queued?)",
      );
    }
    registerJobSecret(job.id, authToken);
    return {
      webhookUrl: job.webhookUrl,
      authToken,
      channelId: job.channelId,
      policy: egressPolicy(this.config.allowedHosts, [job.manifestUrl, job.webhookUrl], this.config.allowedPorts),
    };
  }

  private targetOrNone(job: TrainingJob): BackendTarget | undefined {
    try {
      return this.targetOf(job);
    } catch {
      return undefined;
    }
  }

  private patiently<T>(what: string, operation: () => Promise<T>, patienceMs?: number): Promise<T> {
    return untilDatabaseAnswers(
      operation,
      (err) => this.logger.warn(`${what} waits for the database: ${recordableError(err)}`),
      patienceMs,
    );
  }
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

function resultOf(summary: PublishedModel): JobResult {
  return {
    trainingId: summary.trainingId,
    products: summary.labels.length,
    images: summary.images,
    skippedImages: summary.skipped.length,
    droppedProducts: summary.droppedLabels,
    validationAccuracy: summary.validationAccuracy,
    recognition: summary.recognition,
    quality: summary.quality,
    backend: summary.backend,
    warnings: recordedWarnings(summary.warnings),
  };
}

/** Warnings a job record keeps; a manifest of many bad products would otherwise make a record of megabytes. */
const MAX_RECORDED_WARNINGS = 100;

function recordedWarnings(warnings: string[]): string[] {
  if (warnings.length <= MAX_RECORDED_WARNINGS) return warnings;
  return [...warnings.slice(0, MAX_RECORDED_WARNINGS), `and ${warnings.length - MAX_RECORDED_WARNINGS} more warnings`];
}
