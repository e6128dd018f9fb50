// A key-value store: one independent register per key. Keys never interact, so the history is
// partitioned by key and each key checked alone (P-compositionality), which is what keeps
// histories of thousands of operations cheap to check.

import type { Model, Operation, Partition } from '../types.js';
import { describeRegister, hashValue, showValue, stepRegister, type RegisterInput, type RegisterOutput, type Value } from './register.js';

export type KvInput = RegisterInput & { key: string };
export type KvOutput = RegisterOutput;

/** Every key starts at `initial` (null: absent). State is one key's value: always partition. */
export function kvModel(initial: Value = null): Model<Value, KvInput, KvOutput> {
  return {
    name: 'kv',
    init: () => initial,
    step: stepRegister,
    partition(ops: Operation<KvInput, KvOutput>[]): Partition<KvInput, KvOutput>[] {
      const byKey = new Map<string, Operation<KvInput, KvOutput>[]>();
      for (const op of ops) {
        let list = byKey.get(op.input.key);
        if (!list) byKey.set(op.input.key, (list = []));
        list.push(op);
      }
      return [...byKey.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([key, list]) => ({ key, ops: list }));
    },
    hash: hashValue,
    equal: (a, b) => a === b,
    describe: (input, output) => `${JSON.stringify(input.key)}: ${describeRegister(input, output)}`,
    readOnly: (input) => input.type === 'get',
    describeState: showValue,
  };
}
