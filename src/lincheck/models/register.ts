// A single read/write register with compare-and-set.

import { hashString } from '../bitset.js';
import { UNKNOWN, type Model, type Unknown } from '../types.js';

export type Value = string | number | boolean | null;

export type RegisterInput =
  | { type: 'get' }
  | { type: 'put'; value: Value }
  | { type: 'cas'; expect: Value; value: Value };

/** get: the value read. cas: whether it swapped. put: ignored (use null). */
export type RegisterOutput = Value;

export function showValue(v: Value): string {
  return typeof v === 'string' ? JSON.stringify(v) : String(v);
}

export function hashValue(v: Value): number {
  return hashString(`${typeof v}:${String(v)}`);
}

export function stepRegister(
  state: Value,
  input: RegisterInput,
  output: RegisterOutput | Unknown,
): { ok: boolean; state: Value } {
  switch (input.type) {
    case 'get':
      return { ok: output === UNKNOWN || output === state, state };
    case 'put':
      return { ok: true, state: input.value };
    case 'cas': {
      const swaps = state === input.expect;
      if (output !== UNKNOWN && output !== swaps) return { ok: false, state };
      return { ok: true, state: swaps ? input.value : state };
    }
  }
}

export function describeRegister(input: RegisterInput, output: RegisterOutput | Unknown): string {
  const out = (s: string): string => (output === UNKNOWN ? `${s} -> ?` : s);
  switch (input.type) {
    case 'get':
      return output === UNKNOWN ? 'get() -> ?' : `get() -> ${showValue(output)}`;
    case 'put':
      return out(`put(${showValue(input.value)})`);
    case 'cas':
      return output === UNKNOWN
        ? `cas(${showValue(input.expect)} -> ${showValue(input.value)}) -> ?`
        : `cas(${showValue(input.expect)} -> ${showValue(input.value)}) -> ${output ? 'ok' : 'failed'}`;
  }
}

export function registerModel(initial: Value = null): Model<Value, RegisterInput, RegisterOutput> {
  return {
    name: 'register',
    init: () => initial,
    step: stepRegister,
    hash: hashValue,
    equal: (a, b) => a === b,
    describe: describeRegister,
    readOnly: (input) => input.type === 'get',
    describeState: showValue,
  };
}
