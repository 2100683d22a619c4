/** Unit tests of overall job progress and its throttle. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { overallProgress, ProgressThrottle } from './job-progress';

describe('job progress', () => {
  it('maps each stage onto its share of 0–100', () => {
    assert.equal(overallProgress('downloading', 0), 0);
    assert.equal(overallProgress('negative-bank', 0), 15);
    assert.equal(overallProgress('embedding', 0), 25);
    assert.equal(overallProgress('embedding', 1), 70);
    assert.equal(overallProgress('uploading', 1), 100);
    assert.equal(overallProgress('training', 2), 88, 'fractions are clamped');
  });

  it('reports stage changes and every 5 points, never backwards', () => {
    const throttle = new ProgressThrottle();
    const reported: number[] = [];
    const feed = (stage: 'embedding' | 'training', fraction: number) => {
      const p = overallProgress(stage, fraction);
      if (throttle.shouldReport(stage, p)) reported.push(p);
    };
    for (let i = 0; i <= 100; i++) feed('embedding', i / 100);
    for (let i = 0; i <= 20; i++) feed('training', i / 20);
    assert.deepEqual(reported, [25, 30, 35, 40, 45, 50, 55, 60, 65, 70, 70, 75, 80, 85]);
    for (let i = 1; i < reported.length; i++) assert.ok(reported[i] - reported[i - 1] <= 10);
  });
});
