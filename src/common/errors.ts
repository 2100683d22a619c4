/**
 * The base of the service's own errors. `name` is the class's name (so logs and stack traces say which), and
 * `final` says whether another attempt of a job could succeed: a job that fails with a final error fails at once.
 */
export class TrainerError extends Error {
  /** Retrying cannot help (bad input, an answer the backend will give again): the job fails at once. */
  readonly final: boolean = false;

  constructor(message?: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A TrainerError that another attempt cannot fix. */
export class FinalError extends TrainerError {
  override readonly final = true;
}

/** True for a failure that another attempt cannot fix. */
export function isFinal(err: unknown): boolean {
  return err instanceof TrainerError && err.final;
}
