/** GET /health: the database and the queue answer, within a bounded time. */
import { Controller, Get } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import {
  HealthCheck,
  HealthCheckService,
  HealthIndicatorService,
  TypeOrmHealthIndicator,
  type HealthCheckResult,
} from '@nestjs/terminus';
import { JobQueueRepository } from '../jobs/job-queue.repository';

/** Answer time allowed to each check: /health must stay fast even when Postgres is not. */
const CHECK_TIMEOUT_MS = 1500;
/** A check's outcome answers the probes of this long; then the next probe starts a new check. */
export const HEALTH_CHECK_REUSE_MS = 1000;

/**
 * GET /health (no auth): Postgres and the job queue. 503 with the failing part while either is down.
 *
 * Probes do not each make a database round trip: one check runs at a time, and its outcome answers every probe until
 * it is HEALTH_CHECK_REUSE_MS old. A probe that finds it older, but younger than HEALTH_CHECK_REUSE_MS plus a check's
 * time limit, gets it still while the next check runs, so frequent probes never wait for the database; a probe after
 * a longer pause (a container health check every 30 s) waits for a fresh check.
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
    private readonly queue: JobQueueRepository,
  ) {}

  @Get()
  @HealthCheck()
  check(): Promise<HealthCheckResult> {
    const age = this.last ? performance.now() - this.last.at : Infinity;
    if (age < HEALTH_CHECK_REUSE_MS) return this.last!.outcome;
    const next = (this.checking ??= this.runChecks());
    // A recent outcome answers while the next check runs; an old one (probes far apart) does not.
    return age < HEALTH_CHECK_REUSE_MS + CHECK_TIMEOUT_MS ? this.last!.outcome : next;
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
    const keep = () => {
      this.last = { at: performance.now(), outcome };
      this.checking = undefined;
    };
    outcome.then(keep, keep);
    return outcome;
  }
}
