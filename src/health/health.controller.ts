import { Controller, Get } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import {
  HealthCheck,
  HealthCheckService,
  HealthIndicatorService,
  TypeOrmHealthIndicator,
  type HealthCheckResult,
} from '@nestjs/terminus';
import { JobQueueService } from '../training/job-queue.service';

/** Answer time allowed to each check: /health must stay fast even when Postgres is not. */
const CHECK_TIMEOUT_MS = 1500;
/** A check's outcome answers the probes of this long; then the next probe starts a new check. */
export const HEALTH_CHECK_REUSE_MS = 1000;

/**
 * GET /health (no auth): Postgres and the job queue. 503 with the failing part while either is down.
 *
 * Probes do not each make a database round trip: one check runs at a time, and its outcome answers every probe until
 * it is HEALTH_CHECK_REUSE_MS old. A probe that finds it older gets it still (at most one check's time staler) while
 * the next check runs, so a busy database or a loaded machine does not slow the probe itself.
 */
@ApiTags('health')
@Controller('health')
export class HealthController {
  private last?: { at: number; outcome: Promise<HealthCheckResult> };
  private checking?: Promise<HealthCheckResult>;

  constructor(
    private readonly health: HealthCheckService,
    private readonly database: TypeOrmHealthIndicator,
    private readonly indicators: HealthIndicatorService,
    private readonly queue: JobQueueService,
  ) {}

  @Get()
  @HealthCheck()
  check(): Promise<HealthCheckResult> {
    if (this.last && performance.now() - this.last.at < HEALTH_CHECK_REUSE_MS) return this.last.outcome;
    const next = (this.checking ??= this.runChecks());
    return this.last?.outcome ?? next;
  }

  private runChecks(): Promise<HealthCheckResult> {
    const outcome = this.health.check([
      () => this.database.pingCheck('database').withTimeout(CHECK_TIMEOUT_MS),
      () =>
        this.indicators
          .check('queue')
          .attempt(() => this.queue.check())
          .withTimeout(CHECK_TIMEOUT_MS),
    ]);
    // A 503 is an outcome too: kept and answered like a 200.
    outcome.catch(() => undefined);
    const settled = outcome.finally(() => {
      this.last = { at: performance.now(), outcome };
      this.checking = undefined;
    });
    settled.catch(() => undefined);
    return outcome;
  }
}
