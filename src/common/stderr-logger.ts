import { ConsoleLogger, type LogLevel } from '@nestjs/common';

/** Nest's start-up chatter, of no interest to someone running the CLI. */
const QUIET_CONTEXTS = new Set(['NestFactory', 'InstanceLoader']);

/** Nest's console logger, but every line goes to stderr (the CLI keeps stdout for its result), without start-up chatter. */
export class StderrLogger extends ConsoleLogger {
  protected override printMessages(
    messages: unknown[],
    context?: string,
    logLevel?: LogLevel,
    _writeStreamType?: 'stdout' | 'stderr',
    errorStack?: unknown,
    params?: Record<string, unknown>,
  ): void {
    if (logLevel === 'log' && context && QUIET_CONTEXTS.has(context)) return;
    super.printMessages(messages, context, logLevel, 'stderr', errorStack, params);
  }
}
