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

  /** `cancel` ends the task at once: a task already running has its thread stopped (and replaced). */
  embed(task: EmbedTask, cancel?: AbortSignal): Promise<EmbedOutcome[]> {
    return this.run(
      'embed',
      task,
      task.items.map((i) => i.bytes.buffer as ArrayBuffer),
      cancel,
    );
  }

  /** Largest difference between the ONNX and the tfjs embeddings of some photos (see compareEnginesTask). */
  compareEngines(task: CompareEnginesTask): Promise<number> {
    return this.run('compareEnginesTask', task);
  }

  /** Trains the head in a worker; `onProgress` hears the share done, on this thread. */
  async trainHead(
    task: Omit<TrainHeadTask, 'progress'>,
    onProgress?: (fraction: number) => void,
    cancel?: AbortSignal,
  ): Promise<HeadTrainingReport> {
    const channel = new MessageChannel();
    channel.port1.on('message', (fraction: number) => onProgress?.(fraction));
    try {
      return await this.run<HeadTrainingReport>(
        'trainHeadTask',
        { ...task, progress: channel.port2 },
        [channel.port2],
        cancel,
      );
    } finally {
      channel.port1.close();
    }
  }

  exportModel(task: ExportTask, cancel?: AbortSignal): Promise<ExportResult> {
    return this.run('exportModelTask', task, [], cancel);
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

  async destroy(): Promise<void> {
    await this.piscina.destroy();
  }
}
