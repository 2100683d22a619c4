/** The CLI's logger: Nest's log lines on stderr, its start-up chatter left out. */
import { ConsoleLogger, type LogLevel } from '@nestjs/common';

/** Nest's start-up chatter, of no interest to someone running the CLI. */
const QUIET_CONTEXTS = new Set(['NestFactory', 'InstanceLoader']);

/** Nest's console logger, but every line goes to stderr (the CLI keeps stdout for its result), without start-up chatter. */
export class StderrLogger extends ConsoleLogger {
  private diverted?: (text: string) => void;

  /** While set, each formatted line goes to `write` (e.g. above a progress bar) instead of straight to stderr. */
  divert(write: ((text: string) => void) | undefined): void {
    this.diverted = write;
  }

  protected override printMessages(
    messages: unknown[],
    context?: string,
    logLevel?: LogLevel,
    _writeStreamType?: 'stdout' | 'stderr',
    errorStack?: unknown,
    params?: Record<string, unknown>,
  ): void {
    if (logLevel === 'log' && context && QUIET_CONTEXTS.has(context)) return;
    const write = this.diverted;
    if (!write) return super.printMessages(messages, context, logLevel, 'stderr', errorStack, params);
    // Nest's logger writes the formatted line to stderr itself: it is caught here and handed on whole.
    const stderr = process.stderr;
    const original = stderr.write;
    let text = '';
    stderr.write = ((chunk: string | Uint8Array) => ((text += String(chunk)), true)) as typeof stderr.write;
    try {
      super.printMessages(messages, context, logLevel, 'stderr', errorStack, params);
    } finally {
      stderr.write = original;
    }
    write(text);
  }
}
