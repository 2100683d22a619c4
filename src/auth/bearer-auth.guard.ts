/** The API's authentication: the ML_SERVICE_TOKEN bearer token, compared in constant time. */
import { createHash, timingSafeEqual } from 'node:crypto';
import {
  ForbiddenException,
  Injectable,
  Logger,
  UnauthorizedException,
  type CanActivate,
  type ExecutionContext,
} from '@nestjs/common';
import type { Request } from 'express';
import { AppConfig } from '../config/app-config';

/** Compares two secrets in constant time (their digests have equal length whatever the inputs). */
export function sameSecret(given: string, expected: string): boolean {
  const digest = (value: string) => createHash('sha256').update(value).digest();
  return timingSafeEqual(digest(given), digest(expected));
}

/**
 * `Authorization: Bearer <ML_SERVICE_TOKEN>`: 401 when missing, 403 when wrong. Without a configured token (only
 * possible outside production) requests pass, with a warning at start-up.
 */
@Injectable()
export class BearerAuthGuard implements CanActivate {
  private static warned = false;

  constructor(private readonly config: AppConfig) {
    if (!config.ML_SERVICE_TOKEN && !BearerAuthGuard.warned) {
      BearerAuthGuard.warned = true;
      new Logger(BearerAuthGuard.name).warn('ML_SERVICE_TOKEN is not set: the API accepts requests without a token');
    }
  }

  canActivate(context: ExecutionContext): boolean {
    const expected = this.config.ML_SERVICE_TOKEN;
    if (!expected) return true;
    const header = context.switchToHttp().getRequest<Request>().headers.authorization;
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
    if (!match) throw new UnauthorizedException('Authorization: Bearer <token> is required');
    if (!sameSecret(match[1], expected)) throw new ForbiddenException('the token is not valid');
    return true;
  }
}
