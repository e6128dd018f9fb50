// Histories produced by a real sequential execution: each operation takes effect at a point
// inside its [call, return] interval, so the history is linearizable by construction.

import { UNKNOWN, type Value, type CounterInput, type CounterOutput, type KvInput, type KvOutput, type Operation } from '../../src/lincheck/index.js';

export interface Step {
  kind: number;
  key: number;
  value: number;
  expect: number;
  before: number;
  after: number;
  /** 0: outcome unknown but applied; 1: outcome unknown and never applied; else known. */
  fate: number;
}

function interval(i: number, s: Step, spacing: number): { call: number; ret: number } {
  const point = 1000 + spacing * i;
  return { call: point - s.before, ret: point + s.after };
}

export function kvHistory(steps: Step[], spacing = 10): Operation<KvInput, KvOutput>[] {
  const store = new Map<string, Value>();
  return steps.map((s, i) => {
    const key = `k${s.key}`;
    const cur = store.get(key) ?? null;
    const input: KvInput =
      s.kind === 0 ? { key, type: 'get' } : s.kind === 1 ? { key, type: 'put', value: s.value } : { key, type: 'cas', expect: s.expect, value: s.value };
    const { call, ret } = interval(i, s, spacing);
    if (s.fate === 1) return { clientId: i, input, output: UNKNOWN, call, return: Infinity };
    let output: KvOutput = null;
    if (input.type === 'get') output = cur;
    else if (input.type === 'put') store.set(key, input.value);
    else {
      output = cur === input.expect;
      if (output) store.set(key, input.value);
    }
    if (s.fate === 0) return { clientId: i, input, output: UNKNOWN, call, return: Infinity };
    return { clientId: i, input, output, call, return: ret };
  });
}

export function counterHistory(steps: Step[], spacing = 10): Operation<CounterInput, CounterOutput>[] {
  let value = 0;
  return steps.map((s, i) => {
    const input: CounterInput = s.kind === 0 ? { type: 'read' } : { type: 'add', delta: s.value + 1 };
    const { call, ret } = interval(i, s, spacing);
    if (s.fate === 1) return { clientId: i, input, output: UNKNOWN, call, return: Infinity };
    let output: CounterOutput = null;
    if (input.type === 'read') output = value;
    else {
      value += input.delta;
      output = s.expect % 2 === 0 ? value : null;
    }
    if (s.fate === 0) return { clientId: i, input, output: UNKNOWN, call, return: Infinity };
    return { clientId: i, input, output, call, return: ret };
  });
}
