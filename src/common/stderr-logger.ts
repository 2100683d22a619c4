/** The CLI's logger: plain lines on stderr for a person, without the framework's prefixes and chatter. */
import type { LoggerService } from '@nestjs/common';

/**
 * Writes warnings and errors on stderr as `Warning: …` and `Error: …` (stdout keeps the CLI's result); the services'
 * informational lines (which base model, which engine, the bank's build) only when `showInfo` (`--verbose`), prefixed with their
 * source. Nest's own start-up lines are never shown.
 */
export class StderrLogger implements LoggerService {
  private diverted?: (text: string) => void;

  constructor(private readonly showInfo = false) {}

  /** While set, each line goes to `write` (e.g. above a progress bar) instead of straight to stderr. */
  divert(write: ((text: string) => void) | undefined): void {
    this.diverted = write;
  }

  /** A line the CLI itself says (progress), whatever the verbosity. */
  say(text: string): void {
    this.write(text);
  }

  log(message: unknown, context?: string): void {
    if (this.showInfo && !NEST_CONTEXTS.has(context ?? '')) this.write(`${context ? `[${context}] ` : ''}${message}`);
  }

  warn(message: unknown): void {
    this.write(`Warning: ${message}`);
  }

  error(message: unknown, stackOrContext?: string): void {
    // Nest passes an error's stack as the second argument; it is of use only to a developer.
    this.write(`Error: ${message}${this.showInfo && stackOrContext?.includes('\n') ? `\n${stackOrContext}` : ''}`);
  }

  fatal(message: unknown): void {
    this.write(`Error: ${message}`);
  }

  debug(message: unknown, context?: string): void {
    this.log(message, context);
  }

  verbose(message: unknown, context?: string): void {
    this.log(message, context);
  }

  private write(text: string): void {
    const line = `${text}\n`;
    if (this.diverted) this.diverted(line);
    else process.stderr.write(line);
  }
}

/** Nest's start-up chatter (modules and providers resolved), of no interest to someone running the CLI. */
const NEST_CONTEXTS = new Set(['NestFactory', 'InstanceLoader', 'NestApplication', 'RoutesResolver', 'RouterExplorer']);
