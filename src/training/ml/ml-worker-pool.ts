/** The worker threads that do all TensorFlow.js and ONNX Runtime work, one task each at a time. */
import * as path from 'node:path';
import { Piscina } from 'piscina';
import type { EmbeddingEngineChoice, TfBackendChoice } from '../../config/ml-choices';
import { MessageChannel, type TransferListItem } from 'node:worker_threads';
import type { HeadTrainingReport } from './head';
import { disableOnnxRuntimeTelemetry } from './onnx-runtime';
import type {
  CompareEnginesTask,
  EmbedOutcome,
  EmbedTask,
  ExportResult,
  ExportTask,
  MlWorkerOptions,
  TrainHeadTask,
  WorkerResult,
} from './ml-worker';

export interface MlWorkerPoolOptions {
  /** Worker threads; each holds its own copy of the base model (about 10 MB). */
  workers: number;
  backend: TfBackendChoice;
  /** EMBEDDING_ENGINE, which also says whether ONNX Runtime does the linear head's products; `auto` when not given. */
  engine?: EmbeddingEngineChoice;
  /** Called once, with the backend the workers actually use. */
  onBackend?: (backend: string, skipped: string[]) => void;
}

/** The worker threads that do all TensorFlow work. One task per worker at a time: TF work is CPU-bound. */
export class MlWorkerPool {
  private readonly piscina: Piscina;
  /** The backend the workers use, once one of them has reported it. */
  backend: string | undefined;

  constructor(private readonly options: MlWorkerPoolOptions) {
    // Before any worker loads ONNX Runtime.
    disableOnnxRuntimeTelemetry();
    const workerData: MlWorkerOptions = { backend: options.backend, engine: options.engine ?? 'auto' };
    this.piscina = new Piscina({
      // Same extension as this file: .js when compiled, .ts when run through a TypeScript loader.
      filename: path.join(__dirname, `ml-worker${path.extname(__filename)}`),
      minThreads: 0,
      maxThreads: Math.max(1, options.workers),
      concurrentTasksPerWorker: 1,
      idleTimeout: 60_000,
      workerData,
    });
  }

  get size(): number {
    return Math.max(1, this.options.workers);
  }

  /**
   * Starts every worker and loads its libraries now, ahead of the first task (the CLI: while it reads the photos and
   * the embedding cache). Never fails: a library that does not load is reported by the task that needs it.
   */
  async warmUp(): Promise<void> {
    await Promise.all(Array.from({ length: this.size }, () => this.run('warmUpTask', {}).catch(() => undefined)));
  }

  /** `cancel` ends the wait at once; a task already running stops after the image it is at (see askToStop). */
  embed(task: Omit<EmbedTask, 'stop'>, cancel?: AbortSignal): Promise<EmbedOutcome[]> {
    return this.askToStop(cancel, (stop) =>
      this.run(
        'embed',
        { ...task, stop },
        task.items.map((i) => i.bytes.buffer as ArrayBuffer),
      ),
    );
  }

  /** Largest difference between the ONNX and the tfjs embeddings of some photos (see compareEnginesTask). */
  compareEngines(task: CompareEnginesTask): Promise<number> {
    return this.run('compareEnginesTask', task);
  }

  /**
   * Trains the head in a worker; `onProgress` hears the share done, on this thread. `cancel` ends the wait at once; a
   * linear head's fit stops after the evaluation it is at (see askToStop), an MLP's training (benchmarks only) runs on.
   */
  async trainHead(
    task: Omit<TrainHeadTask, 'progress' | 'stop'>,
    onProgress?: (fraction: number) => void,
    cancel?: AbortSignal,
  ): Promise<HeadTrainingReport> {
    const channel = new MessageChannel();
    channel.port1.on('message', (fraction: number) => onProgress?.(fraction));
    try {
      return await this.askToStop(cancel, (stop) =>
        this.run<HeadTrainingReport>('trainHeadTask', { ...task, progress: channel.port2, stop }, [channel.port2]),
      );
    } finally {
      channel.port1.close();
    }
  }

  /** `cancel` ends the task at once: a task already running has its thread stopped (and replaced). */
  exportModel(task: ExportTask, cancel?: AbortSignal): Promise<ExportResult> {
    return this.run('exportModelTask', task, [], cancel);
  }

  /**
   * Runs a task that reads a stop flag between its steps: when `cancel` aborts, the flag is raised and the returned
   * promise rejects with the reason at once, while the task ends at its next step and frees its thread. Its thread is
   * not stopped, as piscina's signal would: a thread stopped while ONNX Runtime runs in it aborts the whole process
   * ("terminate called after throwing an instance of 'Napi::Error'", seen when a training was cancelled mid-fit).
   */
  private async askToStop<T>(cancel: AbortSignal | undefined, run: (stop: Int32Array) => Promise<T>): Promise<T> {
    cancel?.throwIfAborted();
    const stop = new Int32Array(new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT));
    const running = run(stop);
    if (!cancel) return running;
    let onAbort = () => {};
    const aborted = new Promise<never>((_, reject) => {
      onAbort = () => {
        Atomics.store(stop, 0, 1);
        reject(cancel.reason);
      };
    });
    cancel.addEventListener('abort', onAbort, { once: true });
    try {
      return await Promise.race([running, aborted]);
    } finally {
      cancel.removeEventListener('abort', onAbort);
      // A stopped task's own failure comes after its caller has been answered.
      running.catch(() => undefined);
    }
  }

  private async run<T>(
    name: string,
    task: object,
    transferList: TransferListItem[] = [],
    cancel?: AbortSignal,
  ): Promise<T> {
    const result = (await this.piscina.run(task, { name, transferList, signal: cancel })) as WorkerResult<T>;
    if (this.backend === undefined) {
      this.backend = result.backend;
      this.options.onBackend?.(result.backend, result.skippedBackends);
    }
    return result.value;
  }

  /**
   * Closes the pool once the tasks running end (a cancelled one at its next step), refusing those not started: a
   * thread stopped while ONNX Runtime runs in it, or loads it, would abort the process.
   */
  async destroy(): Promise<void> {
    await this.piscina.close({ force: true });
  }
}
