// Deterministic simulation of a Raft cluster: nodes, clients, a faulty network and disks, all
// driven by one seed; safety checks and linearizability of the client history on every run.

export { runSimulation, defaultConfig, type SimConfig, type RunResult, type RunStats } from './simulation.js';
export { coreNode, type NodeFactory, type SimRaftNode } from './node-api.js';
export { type Violation, SafetyMonitor } from './checks.js';
export { drawProfile, type FaultProfile } from './faults.js';
export { Prng } from './prng.js';
export { runPool, type PoolOptions } from './pool.js';
export { summarize, formatSummary, formatFailure, replayCommand, type Summary } from './summary.js';
