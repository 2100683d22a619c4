/** A job's overall progress (0-100) from its stages, and which updates reach the backend. */
import type { Stage } from '../training/trainer.service';

/** Share of the whole job each stage stands for, as [start, end] of the overall 0–100. */
const STAGE_SPANS: Record<Stage, [number, number]> = {
  downloading: [0, 15],
  // Only at the first training with a base model; otherwise progress steps from 15 to 25 as embedding starts.
  'negative-bank': [15, 25],
  embedding: [25, 70],
  training: [70, 88],
  exporting: [88, 93],
  uploading: [93, 100],
};

/** Overall progress (0–100) of a job at `fraction` (0–1) through `stage`. */
export function overallProgress(stage: Stage, fraction: number): number {
  const [start, end] = STAGE_SPANS[stage];
  return Math.floor(start + (end - start) * Math.max(0, Math.min(1, fraction)));
}

/** Progress reaches the backend every this many points at least (stages advance in steps of at most 3). */
export const REPORT_EVERY = 5;

/**
 * Decides which progress updates reach the backend: the start, every stage change and every REPORT_EVERY points,
 * so that no two reports are more than 10 points apart; never a step backwards.
 */
export class ProgressThrottle {
  private lastStage: Stage | undefined;
  private lastProgress = -1;

  shouldReport(stage: Stage, progress: number): boolean {
    const report =
      stage !== this.lastStage ||
      progress - this.lastProgress >= REPORT_EVERY ||
      (progress === 100 && this.lastProgress < 100);
    if (report && progress >= this.lastProgress) {
      this.lastStage = stage;
      this.lastProgress = progress;
      return true;
    }
    return false;
  }
}
