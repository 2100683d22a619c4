/** Nest module of the ML pipeline. */
import { Module } from '@nestjs/common';
import { ExportModule } from '../export/export.module';
import { BaseModelService } from './base-model.service';
import { EmbeddingEngineService } from './embedding-engine.service';
import { EmbeddingService } from './embedding.service';
import { TfPoolService } from './tf-pool.service';
import { TrainerService } from './trainer.service';

@Module({
  imports: [ExportModule],
  providers: [TfPoolService, BaseModelService, EmbeddingEngineService, EmbeddingService, TrainerService],
  exports: [TrainerService, TfPoolService],
})
export class TrainingModule {}
