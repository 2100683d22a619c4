/** Test support: the CLI's modules with test settings, and training then publishing as the CLI does. */
import { Test, type TestingModule } from '@nestjs/testing';
import { AppConfig, loadConfig } from '../../src/config/app-config';
import { ConfigModule } from '../../src/config/config.module';
import { DatasetModule } from '../../src/dataset/dataset.module';
import { ExportModule } from '../../src/export/export.module';
import { ExportService, type PublishedModel, type PublishRequest } from '../../src/export/export.service';
import { TrainerService, type ProgressListener, type TrainRequest } from '../../src/training/trainer.service';
import { TrainingModule } from '../../src/training/training.module';
import { BASE_MODEL_JSON, NO_GROCERY_DATASET } from './shared';

/** The CLI's modules with test settings: the shared base model (nothing downloads) and private cache folders. */
export async function trainerContext(cacheDir: string, env: Record<string, string> = {}): Promise<TestingModule> {
  const config = loadConfig({
    BASE_MODEL_URL: BASE_MODEL_JSON,
    MODEL_CACHE_DIR: cacheDir,
    GROCERY_DATASET_URL: NO_GROCERY_DATASET,
    TRAINING_WORKERS: '2',
    ...env,
  });
  const moduleRef = await Test.createTestingModule({
    imports: [ConfigModule, DatasetModule, TrainingModule, ExportModule],
  })
    .overrideProvider(AppConfig)
    .useValue(config)
    .compile();
  await moduleRef.init();
  return moduleRef;
}

/** What the CLI and a job attempt do: train (TrainerService), then publish (ExportService). */
export interface ModelTrainer {
  train(
    request: TrainRequest & Omit<PublishRequest, 'trained'>,
    onProgress?: ProgressListener,
  ): Promise<PublishedModel>;
}

export function modelTrainer(app: TestingModule): ModelTrainer {
  return {
    async train({ dataset, baseModel, unknownShare, previousModel, secondsPerStage, cancel, ...publish }, onProgress) {
      const trained = await app
        .get(TrainerService)
        .train({ dataset, baseModel, unknownShare, previousModel, secondsPerStage, cancel }, onProgress);
      return app.get(ExportService).publish({ trained, ...publish, cancel }, onProgress);
    },
  };
}
