import { Controller, Get } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import { HealthCheck, HealthCheckService, HealthIndicatorService, TypeOrmHealthIndicator } from '@nestjs/terminus';
import { JobQueueService } from '../training/job-queue.service';

/** Answer time allowed to each check: /health must stay fast even when Postgres is not. */
const CHECK_TIMEOUT_MS = 1500;

/** GET /health (no auth): Postgres and the job queue. 503 with the failing part while either is down. */
@ApiTags('health')
@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly database: TypeOrmHealthIndicator,
    private readonly indicators: HealthIndicatorService,
    private readonly queue: JobQueueService,
  ) {}

  @Get()
  @HealthCheck()
  check() {
    return this.health.check([
      () => this.database.pingCheck('database').withTimeout(CHECK_TIMEOUT_MS),
      () =>
        this.indicators
          .check('queue')
          .attempt(() => this.queue.check())
          .withTimeout(CHECK_TIMEOUT_MS),
    ]);
  }
}
