/** Nest module of publishing a trained model: its files, model card, report and self-check. */
import { Module } from '@nestjs/common';
import { TrainingModule } from '../training/training.module';
import { ExportService } from './export.service';

@Module({
  imports: [TrainingModule],
  providers: [ExportService],
  exports: [ExportService],
})
export class ExportModule {}
