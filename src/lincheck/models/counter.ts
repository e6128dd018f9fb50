// A counter: add(delta) and read().

import { mix32 } from '../bitset.js';
import { UNKNOWN, type Model } from '../types.js';

export type CounterInput = { type: 'add'; delta: number } | { type: 'read' };
/** read: the value. add: the value after adding, or null if the counter does not return it. */
export type CounterOutput = number | null;

export function counterModel(initial = 0): Model<number, CounterInput, CounterOutput> {
  return {
    name: 'counter',
    init: () => initial,
    step(state, input, output) {
      if (input.type === 'read') return { ok: output === UNKNOWN || output === state, state };
      const next = state + input.delta;
      return { ok: output === UNKNOWN || output === null || output === next, state: next };
    },
    hash: (s) => mix32(s | 0) ^ mix32(Math.floor(s / 0x100000000)),
    equal: (a, b) => a === b,
    describe(input, output) {
      const out = output === UNKNOWN ? '?' : String(output);
      if (input.type === 'read') return `read() -> ${out}`;
      return output === null ? `add(${input.delta})` : `add(${input.delta}) -> ${out}`;
    },
    readOnly: (input) => input.type === 'read',
    describeState: String,
  };
}
