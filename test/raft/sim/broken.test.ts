// The simulator must catch each deliberately broken core within a bounded number of seeds, by
// one of its own checks (not by the run crashing), and a failing seed must replay identically.

import { describe, expect, it } from 'vitest';
import { defaultConfig, formatFailure, runSimulation, type RunResult } from '../../../src/raft/sim/index.js';
import { CORE_MODULE, brokenVariants } from './broken-variants.js';

const MAX_SEEDS = 200;
const CHECKS = ['electionSafety', 'logMatching', 'leaderCompleteness', 'stateMachineSafety', 'linearizability', 'invariant'];

describe('the simulator catches broken cores', () => {
  for (const variant of brokenVariants) {
    it(`${variant.name}: caught within ${MAX_SEEDS} seeds, and the failing seed replays identically`, () => {
      let failing: RunResult | undefined;
      for (let seed = 1; seed <= MAX_SEEDS && !failing; seed++) {
        const r = runSimulation(defaultConfig(seed, 3), variant.factory);
        if (r.violations.length > 0) failing = r;
      }
      expect(failing, `not caught in ${MAX_SEEDS} seeds`).toBeDefined();
      const r = failing!;
      const text = formatFailure(r, `${CORE_MODULE}#${variant.exportName}`);
      console.log(`${variant.name}: first caught at seed ${r.seed}\n${text}`);
      expect(text).toContain(`replay: npm run sim -- --seed ${r.seed} --nodes 3 --core ${CORE_MODULE}#${variant.exportName}`);
      for (const v of r.violations) expect(CHECKS).toContain(v.kind);
      // The checks themselves caught it: not only the core's own assertions.
      expect(r.violations.some((v) => v.kind !== 'invariant')).toBe(true);

      const again = runSimulation(defaultConfig(r.seed, 3), variant.factory);
      expect(again).toEqual(r);
    });
  }
});
