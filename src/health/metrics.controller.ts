/** GET /metrics: Prometheus text, with job counts read at scrape time. */
import { Controller, Get, Header } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import { MetricsService } from '../metrics/metrics.service';
import { JOB_STATES } from '../jobs/training-job.entity';
import { JobsService } from '../jobs/jobs.service';

/** GET /metrics (no auth, no secrets): Prometheus text format. */
@ApiTags('health')
@Controller('metrics')
export class MetricsController {
  constructor(
    private readonly metrics: MetricsService,
    private readonly jobs: JobsService,
  ) {}

  @Get()
  @Header('Content-Type', 'text/plain; version=0.0.4; charset=utf-8')
  async scrape(): Promise<string> {
    const counts = await this.jobs.countByState().catch(() => undefined);
    if (counts) for (const state of JOB_STATES) this.metrics.jobs.set({ state }, counts[state] ?? 0);
    return this.metrics.registry.metrics();
  }
}
