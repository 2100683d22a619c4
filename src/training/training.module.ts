/** Nest module of the ML pipeline. */
import { Module } from '@nestjs/common';
import { DatasetModule } from '../dataset/dataset.module';
import { BaseModelService } from './base-model.service';
import { EmbeddingEngineService } from './embedding-engine.service';
import { EmbeddingService } from './embedding.service';
import { NegativeBankService } from './negative-bank/negative-bank.service';
import { MlWorkerPoolService } from './ml-worker-pool.service';
import { TrainerService } from './trainer.service';

@Module({
  imports: [DatasetModule],
  providers: [
    MlWorkerPoolService,
    BaseModelService,
    EmbeddingEngineService,
    EmbeddingService,
    NegativeBankService,
    TrainerService,
  ],
  exports: [TrainerService, MlWorkerPoolService, BaseModelService, NegativeBankService, EmbeddingService],
})
export class TrainingModule {}
