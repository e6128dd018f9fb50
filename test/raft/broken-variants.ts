// Deliberately broken Raft variants, built only through the core's protected extension points
// (see src/raft/index.ts). Tests and the simulator use them to prove their checkers catch the
// bugs. Never use them outside tests.
import { RaftNode, type Entry, type Message, type RaftConfig } from '../../src/raft/index.js';

/** Commits an entry of an earlier term by counting replicas (violates Figure 8's rule). */
export class CommitsOldTermEntries extends RaftNode {
  protected override canCommitAt(_index: number): boolean {
    return true;
  }
}

/** A follower that keeps its conflicting suffix instead of truncating it (log matching). */
export class KeepsConflictingSuffix extends RaftNode {
  protected override appendAfterConflict(ents: Entry[]): void {
    const fresh = ents.filter((e) => e.index > this.log.lastIndex());
    if (fresh.length > 0) this.log.append(fresh);
  }
}

/** A leader that answers reads from its commit index without confirming leadership. */
export class ReadsWithoutReadIndex extends RaftNode {
  protected override handleReadIndexAtLeader(m: Message): void {
    this.respondToRead(m, this.log.committed);
  }
}

export const brokenFactories = {
  commitsOldTermEntries: (c: RaftConfig) => new CommitsOldTermEntries(c),
  keepsConflictingSuffix: (c: RaftConfig) => new KeepsConflictingSuffix(c),
  readsWithoutReadIndex: (c: RaftConfig) => new ReadsWithoutReadIndex(c),
};
