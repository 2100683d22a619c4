/** Nest module of the Prometheus metrics. */
import { Global, Module } from '@nestjs/common';
import { MetricsService } from './metrics.service';

/** Global, so any module can record metrics without importing this one. */
@Global()
@Module({
  providers: [MetricsService],
  exports: [MetricsService],
})
export class MetricsModule {}
