// The Raft safety properties (paper figure 3), checked while the simulation runs:
// - election safety: at most one leader per term;
// - log matching: two logs with an entry of the same index and term hold the same entry there
//   and agree on everything before it (checked as: same data, same term just before);
// - leader completeness: an entry committed before term T is in the log of T's leader;
// - state-machine safety: no two nodes apply different entries at one index (and, stronger,
//   their state machines agree after applying it, snapshots included).

import type { Entry } from '../types.js';
import { hashBytes } from './kv-machine.js';

export interface Violation {
  kind: 'electionSafety' | 'logMatching' | 'leaderCompleteness' | 'stateMachineSafety' | 'linearizability' | 'invariant' | 'crash';
  message: string;
}

interface Applied {
  term: number;
  data: number;
  state: number;
  /** Lowest term any node was in when it applied this index: the commit happened no later. */
  seenInTerm: number;
}

export class SafetyMonitor {
  readonly violations: Violation[] = [];
  private leaders = new Map<number, number>();
  /** (index, term) -> data hash of every entry any node ever appended. */
  private appended = new Map<string, number>();
  private applied = new Map<number, Applied>();
  private leaderLogs: { node: number; term: number; snapIndex: number; terms: number[] }[] = [];
  elections = 0;

  private fail(kind: Violation['kind'], message: string): void {
    // One violation of a kind is enough to fail a run; more would only repeat it.
    if (this.violations.filter((v) => v.kind === kind).length < 3) this.violations.push({ kind, message });
  }

  onLeader(node: number, term: number, log: { snapIndex: number; terms: number[] }): void {
    this.elections++;
    const other = this.leaders.get(term);
    if (other !== undefined && other !== node) this.fail('electionSafety', `term ${term} has two leaders: ${other} and ${node}`);
    this.leaders.set(term, node);
    this.leaderLogs.push({ node, term, ...log });
  }

  onAppend(node: number, entries: readonly Entry[]): void {
    for (const e of entries) {
      const key = `${e.index}:${e.term}`;
      const h = hashBytes(e.data);
      const seen = this.appended.get(key);
      if (seen === undefined) this.appended.set(key, h);
      else if (seen !== h) this.fail('logMatching', `node ${node} appended a different entry at index ${e.index} term ${e.term}`);
    }
  }

  onApply(node: number, e: Entry, stateHash: number, nodeTerm: number): void {
    const data = hashBytes(e.data);
    const prior = this.applied.get(e.index);
    if (!prior) {
      this.applied.set(e.index, { term: e.term, data, state: stateHash, seenInTerm: nodeTerm });
      return;
    }
    if (prior.term !== e.term || prior.data !== data) {
      this.fail('stateMachineSafety', `node ${node} applied entry (term ${e.term}) at index ${e.index}, another node applied (term ${prior.term})`);
    } else if (prior.state !== stateHash) {
      this.fail('stateMachineSafety', `node ${node}'s state machine after index ${e.index} differs from another node's`);
    }
    if (nodeTerm < prior.seenInTerm) prior.seenInTerm = nodeTerm;
  }

  onRestore(node: number, index: number, term: number, stateHash: number): void {
    const prior = this.applied.get(index);
    if (!prior) return;
    if (prior.term !== term) this.fail('stateMachineSafety', `node ${node} restored a snapshot at ${index} of term ${term}, but term ${prior.term} was applied there`);
    else if (prior.state !== stateHash) this.fail('stateMachineSafety', `node ${node} restored a snapshot at ${index} whose state differs from the applied one`);
  }

  /** Log matching over the current stable logs of all live nodes. */
  checkLogs(logs: { node: number; first: number; prevTerm: number; entries: Entry[] }[]): void {
    const prev = new Map<string, { node: number; prevTerm: number; data: number }>();
    for (const log of logs) {
      let prevTerm = log.prevTerm;
      for (const e of log.entries) {
        const key = `${e.index}:${e.term}`;
        const data = hashBytes(e.data);
        const other = prev.get(key);
        // The first entry after a compaction point has no comparable predecessor (-1).
        if (!other) prev.set(key, { node: log.node, prevTerm, data });
        else if (other.data !== data || (other.prevTerm !== prevTerm && other.prevTerm !== -1 && prevTerm !== -1)) {
          this.fail('logMatching', `nodes ${other.node} and ${log.node} both have index ${e.index} term ${e.term} but differ at or before it`);
        }
        prevTerm = e.term;
      }
    }
  }

  /** Leader completeness, once all commits are known. */
  finish(): void {
    for (const l of this.leaderLogs) {
      for (const [index, a] of this.applied) {
        if (a.seenInTerm >= l.term || index <= l.snapIndex) continue;
        const t = l.terms[index - l.snapIndex - 1];
        if (t !== a.term) {
          this.fail(
            'leaderCompleteness',
            `leader ${l.node} of term ${l.term} lacks index ${index} (term ${a.term}), committed no later than term ${a.seenInTerm}`,
          );
        }
      }
    }
  }

  get appliedCount(): number {
    return this.applied.size;
  }
}
