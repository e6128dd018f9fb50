// Linearizability checking (Wing–Gong search with Lowe's memoization, per-key partitioning).
// Pure: histories in, verdicts out.

export { check, type CheckOptions } from './check.js';
export { searchPartition, DEFAULT_MAX_STEPS, type SearchResult } from './search.js';
export { minimizeFailure, type MinimizeOptions, type Witness } from './minimize.js';
export { decide, explainable, reachable } from './decide.js';
export { formatHistory } from './format.js';
export { hashString, mix32 } from './bitset.js';
export {
  UNKNOWN,
  type Unknown,
  type Operation,
  type Model,
  type StepResult,
  type Partition,
  type Outcome,
  type SearchBound,
  type PartitionResult,
  type Failure,
  type CheckResult,
} from './types.js';
export { registerModel, stepRegister, type Value, type RegisterInput, type RegisterOutput } from './models/register.js';
export { kvModel, type KvInput, type KvOutput } from './models/kv.js';
export { counterModel, type CounterInput, type CounterOutput } from './models/counter.js';
export { lockModel, type LockInput, type LockOutput, type LockState, type Owner } from './models/lock.js';
