/** The service's Prometheus metrics. */
import { Injectable } from '@nestjs/common';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * The service's Prometheus metrics, in its own registry. Other modules record into it; GET /metrics reads it.
 * Job counts by state are read from the job records at scrape time (see MetricsController).
 */
@Injectable()
export class MetricsService {
  readonly registry = new Registry();

  readonly jobs = new Gauge({
    name: 'ml_trainer_jobs',
    help: 'Training jobs in the database, by state',
    labelNames: ['state'] as const,
    registers: [this.registry],
  });

  readonly jobsFinished = new Counter({
    name: 'ml_trainer_jobs_finished_total',
    help: 'Jobs finished by this process, by outcome',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });

  readonly stageSeconds = new Histogram({
    name: 'ml_trainer_stage_duration_seconds',
    help: 'Duration of each stage of successful jobs',
    labelNames: ['stage'] as const,
    buckets: [0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600],
    registers: [this.registry],
  });

  readonly imagesEmbedded = new Counter({
    name: 'ml_trainer_images_embedded_total',
    help: 'Photos embedded (cache hits included)',
    registers: [this.registry],
  });

  readonly imagesPerSecond = new Gauge({
    name: 'ml_trainer_images_embedded_per_second',
    help: 'Embedding throughput of the last job, photos per second',
    registers: [this.registry],
  });

  readonly downloadFailures = new Counter({
    name: 'ml_trainer_download_failures_total',
    help: 'Photos that could not be downloaded, by reason',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  readonly webhookRetries = new Counter({
    name: 'ml_trainer_webhook_retries_total',
    help: 'Status webhook attempts that failed and were retried',
    registers: [this.registry],
  });

  readonly uploadRetries = new Counter({
    name: 'ml_trainer_upload_retries_total',
    help: 'Model upload attempts that failed and were retried',
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'ml_trainer_' });
  }
}

/** A download failure reason reduced to a small set of label values (no URLs, no free text). */
export function downloadFailureKind(reason: string): string {
  if (reason.startsWith('refused')) return 'refused';
  if (/^HTTP 4/.test(reason)) return 'http_4xx';
  if (/^HTTP 5/.test(reason)) return 'http_5xx';
  if (reason.startsWith('timed out')) return 'timeout';
  if (reason.startsWith('larger than')) return 'too_large';
  if (reason.includes('redirect')) return 'redirects';
  return 'network';
}
