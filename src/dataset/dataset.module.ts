/** Nest module of the dataset service. */
import { HttpModule } from '@nestjs/axios';
import { Module } from '@nestjs/common';
import { DatasetService } from './dataset.service';

@Module({
  imports: [HttpModule],
  providers: [DatasetService],
  exports: [DatasetService],
})
export class DatasetModule {}
