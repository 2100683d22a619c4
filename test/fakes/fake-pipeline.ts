/** The dataset and trainer services without photos or TensorFlow: a "model" of three small files, made on demand. */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { DatasetService } from '../../src/dataset/dataset.service';
import type { Dataset } from '../../src/dataset/dataset.types';
import type { Manifest } from '../../src/dataset/manifest';
import { REPORT_FILE } from '../../src/export/report';
import { METADATA_FILE, MODEL_FILE, WEIGHTS_FILE } from '../../src/export/teachable-machine-format';
import type { RecognitionMetadata } from '../../src/export/teachable-machine-format';
import type { ExportService, PublishedModel, PublishRequest } from '../../src/export/export.service';
import type {
  ProgressListener,
  TrainingResult,
  TrainerService,
  TrainRequest,
} from '../../src/training/trainer.service';

export class FakeDatasets implements Pick<DatasetService, 'fromManifest'> {
  downloads = 0;

  async fromManifest(
    input: unknown,
    workDir: string,
    onProgress?: (done: number, total: number) => void,
  ): Promise<Dataset & { manifest: Manifest }> {
    this.downloads++;
    onProgress?.(1, 1);
    return {
      manifest: input as Manifest,
      labels: [
        { id: 'p1', name: 'Soap' },
        { id: 'p2', name: 'Oil' },
      ],
      images: [
        { label: 0, name: 'asset 1', path: path.join(workDir, 'photos', '0') },
        { label: 1, name: 'asset 2', path: path.join(workDir, 'photos', '1') },
      ],
      skipped: [{ label: 'p2', name: 'asset 3', reason: 'download failed: HTTP 404' }],
      warnings: [],
    };
  }
}

/**
 * The trainer and the exporter in one: `train` counts, fails or waits as told, and `publish` writes a "model" of
 * small files, handing back their bytes as the exporter does.
 */
export class FakeTrainer implements Pick<TrainerService, 'train'>, Pick<ExportService, 'publish'> {
  trainings = 0;
  /** Thrown by the next training, then cleared. */
  error?: Error;
  /** While set, a training waits for it (or for its cancel signal) before it is done. */
  hold?: Promise<void>;

  async train(request: TrainRequest, onProgress?: ProgressListener): Promise<TrainingResult> {
    this.trainings++;
    const error = this.error;
    this.error = undefined;
    if (error) throw error;
    onProgress?.('embedding', 1);
    if (this.hold) {
      await new Promise<void>((resolve, reject) => {
        void this.hold!.then(resolve);
        request.cancel?.addEventListener('abort', () => reject(request.cancel!.reason as Error), { once: true });
      });
    }
    onProgress?.('training', 1);
    // What publish reads of it: the photos, the skipped ones and the earlier stages' seconds.
    return {
      images: request.dataset.images,
      skipped: request.dataset.skipped,
      secondsPerStage: { ...request.secondsPerStage, embedding: 0.1, training: 0.1 },
    } as TrainingResult;
  }

  async publish(request: PublishRequest, onProgress?: ProgressListener): Promise<PublishedModel> {
    onProgress?.('exporting', 1);
    await fs.mkdir(request.outDir, { recursive: true });
    const trainingId = `training-${this.trainings}`;
    const contents = {
      [MODEL_FILE]: Buffer.from(JSON.stringify({ trainingId })),
      [WEIGHTS_FILE]: Buffer.from([1, 2, 3, this.trainings]),
      [METADATA_FILE]: Buffer.from(JSON.stringify({ trainingId, labels: ['p1', 'p2'] })),
      [REPORT_FILE]: Buffer.from(`<!doctype html><title>${trainingId}</title>`),
    };
    const files = {} as PublishedModel['files'];
    for (const [name, bytes] of Object.entries(contents) as [keyof typeof contents, Buffer][]) {
      const file = path.join(request.outDir, name);
      await fs.writeFile(file, bytes);
      files[name] = { path: file, bytes };
    }
    const { trained } = request;
    return {
      trainingId,
      labels: ['p1', 'p2'],
      labelNames: ['Soap', 'Oil'],
      images: trained.images.length,
      skipped: trained.skipped,
      droppedLabels: [],
      warnings: [],
      validationAccuracy: 1,
      recognition: { threshold: 0.9, logitScale: 1 } as RecognitionMetadata,
      quality: { headline: 'Fake: 2 products.', explanation: 'Not measured.', advice: ['Nothing.'] },
      headIterations: 1,
      cachedImages: 0,
      backend: 'fake',
      workers: 1,
      secondsPerStage: { ...trained.secondsPerStage, exporting: 0.1 } as Record<string, number>,
      files,
    };
  }
}
