import { describe, expect, it } from 'vitest';
import { randomWalk } from './random-walk.js';

describe('randomized fault schedules (seeded)', () => {
  it('keeps election safety, log matching, leader completeness and state-machine safety', () => {
    let total = 0;
    for (let seed = 1; seed <= 150; seed++) total += randomWalk(seed, 300).applied;
    expect(total).toBeGreaterThan(150 * 10);
  });
});
