/**
 * Preloaded (`node --require`) into a service process to put its clock CLOCK_OFFSET_MS behind (or ahead): Date and
 * Date.now only, as a machine whose clock has drifted would see them. Postgres keeps the true time.
 */
const offset = Number(process.env.CLOCK_OFFSET_MS ?? 0);
const TrueDate = Date;

class SkewedDate extends TrueDate {
  constructor(...args: unknown[]) {
    if (args.length === 0) super(TrueDate.now() + offset);
    else super(...(args as [string]));
  }

  static override now(): number {
    return TrueDate.now() + offset;
  }
}

globalThis.Date = SkewedDate as DateConstructor;
