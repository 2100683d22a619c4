/** JSON logs (nestjs-pino): levels, redaction, request lines. */
import { Module, RequestMethod } from '@nestjs/common';
import { LoggerModule, type Params } from 'nestjs-pino';
import type { IncomingMessage } from 'node:http';
import { redactSecrets } from '../auth/secrets';
import { AppConfig } from '../config/app-config';

/** Polled by load balancers and Prometheus; a line per poll would bury everything else. */
const QUIET_PATHS = new Set(['/health', '/metrics']);

/**
 * JSON logs (pino) for the service: one line per request and per Nest log call, at LOG_LEVEL. Request lines carry
 * method, path and status only; headers (with their bearer tokens) are never logged, and known tokens are
 * scrubbed from every message. Lines written while a job
 * runs carry its jobId and channelId (see withLogContext).
 */
@Module({
  imports: [
    LoggerModule.forRootAsync({
      // nestjs-pino 4's types cannot see Nest 12's ModuleMetadata (a subpath import), which makes these two required.
      imports: [],
      providers: [],
      inject: [AppConfig],
      useFactory: (config: AppConfig): Params => ({
        pinoHttp: {
          level: config.LOG_LEVEL,
          // Every message is scrubbed of the tokens this process knows, in case a peer quoted one back.
          hooks: {
            logMethod(args, method) {
              const scrubbed = args.map((arg) => (typeof arg === 'string' ? redactSecrets(arg) : arg));
              method.apply(this, scrubbed as Parameters<typeof method>);
            },
          },
          autoLogging: { ignore: (req: IncomingMessage) => QUIET_PATHS.has((req.url ?? '').split('?')[0]) },
          serializers: {
            req: (req: { id: unknown; method: string; url: string }) => ({
              id: req.id,
              method: req.method,
              path: req.url.split('?')[0],
            }),
            res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
          },
        },
        // Express 5 route syntax for "every path" (nestjs-pino's default `*` is the Express 4 form).
        forRoutes: [{ path: '{*path}', method: RequestMethod.ALL }],
      }),
    }),
  ],
})
export class LoggingModule {}
