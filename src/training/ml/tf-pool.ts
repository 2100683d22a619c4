import * as os from 'node:os';
import * as path from 'node:path';
import { Piscina } from 'piscina';
import type { TfBackendChoice } from './backend';
import { MessageChannel } from 'node:worker_threads';
import type { HeadTrainingReport } from './head';
import type { EmbedResult, EmbedTask, ExportResult, ExportTask, TfWorkerOptions, TrainHeadTask } from './tf-worker';

export interface TfPoolOptions {
  /** Worker threads; each holds its own copy of the base model (about 10 MB). */
  workers: number;
  backend: TfBackendChoice;
  /** Called once, with the backend the workers actually use. */
  onBackend?: (backend: string, skipped: string[]) => void;
}

/** The worker threads that do all TensorFlow work. One task per worker at a time: TF work is CPU-bound. */
export class TfWorkerPool {
  private readonly piscina: Piscina;
  private backendReported = false;

  constructor(private readonly options: TfPoolOptions) {
    const workerData: TfWorkerOptions = { backend: options.backend };
    this.piscina = new Piscina({
      // Same extension as this file: .js when compiled, .ts when run through a TypeScript loader.
      filename: path.join(__dirname, `tf-worker${path.extname(__filename)}`),
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

  async embed(task: EmbedTask): Promise<EmbedResult> {
    const result = (await this.piscina.run(task, {
      name: 'embed',
      transferList: task.items.map((i) => i.bytes.buffer as ArrayBuffer),
    })) as EmbedResult;
    if (!this.backendReported) {
      this.backendReported = true;
      this.options.onBackend?.(result.backend, result.skippedBackends);
    }
    return result;
  }

  /** Trains the head in a worker; `onEpoch` is called on this thread after every epoch. */
  async trainHead(
    task: Omit<TrainHeadTask, 'progress'>,
    onEpoch?: (epoch: number, totalEpochs: number) => void,
  ): Promise<HeadTrainingReport> {
    const channel = new MessageChannel();
    channel.port1.on('message', (m: { epoch: number; totalEpochs: number }) => onEpoch?.(m.epoch, m.totalEpochs));
    try {
      return (await this.piscina.run({ ...task, progress: channel.port2 }, {
        name: 'trainHeadTask',
        transferList: [channel.port2],
      })) as HeadTrainingReport;
    } finally {
      channel.port1.close();
    }
  }

  async exportModel(task: ExportTask): Promise<ExportResult> {
    return (await this.piscina.run(task, { name: 'exportModelTask' })) as ExportResult;
  }

  async destroy(): Promise<void> {
    await this.piscina.destroy();
  }
}

export function defaultWorkerCount(): number {
  return os.availableParallelism();
}
