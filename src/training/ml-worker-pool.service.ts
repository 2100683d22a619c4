/** The process's worker pool (TensorFlow.js and ONNX Runtime) as a Nest provider, closed with the application. */
import { Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import { MlWorkerPool } from './ml';

/** The process's worker threads, sized by TRAINING_WORKERS; closed with the application. */
@Injectable()
export class MlWorkerPoolService extends MlWorkerPool implements OnApplicationShutdown {
  private static readonly logger = new Logger('TensorFlow');

  constructor(config: AppConfig) {
    super({
      workers: config.TRAINING_WORKERS,
      backend: config.TF_BACKEND,
      engine: config.EMBEDDING_ENGINE,
      onBackend: (backend, skipped) =>
        MlWorkerPoolService.logger.log(
          `TensorFlow.js backend: ${backend}` + (skipped.length ? ` (not used: ${skipped.join('; ')})` : ''),
        ),
    });
  }

  /** On application shutdown, after running jobs had their grace period (see JobRecoveryService). */
  async onApplicationShutdown(): Promise<void> {
    await this.destroy();
  }
}
