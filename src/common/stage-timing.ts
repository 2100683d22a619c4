/** How stage timings are measured and reported. */

/** Seconds since `start` (a performance.now() reading), to the hundredth, as stage timings are reported. */
export function secondsSince(start: number): number {
  return Math.round(((performance.now() - start) / 1000) * 100) / 100;
}
