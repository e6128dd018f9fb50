// Deliberately broken Raft cores, each overriding one protected decision of the real one.
// They exist only here: the simulator must catch every one of them.

import { RaftNode, type Entry, type Message } from '../../../src/raft/index.js';
import type { NodeFactory } from '../../../src/raft/sim/index.js';

/** The leader answers a read with its commit index, without confirming it still leads. */
export class ReadWithoutReadIndex extends RaftNode {
  protected override handleReadIndexAtLeader(m: Message): void {
    this.respondToRead(m, this.log.committed);
  }
}

/** The leader commits any entry a quorum stores, even one from an earlier term (figure 8). */
export class CommitOldTermEntry extends RaftNode {
  protected override canCommitAt(_index: number): boolean {
    return true;
  }
}

/** A follower keeps its conflicting suffix and only appends entries beyond its last index. */
export class KeepConflictingSuffix extends RaftNode {
  protected override appendAfterConflict(ents: Entry[]): void {
    const last = this.log.lastIndex();
    const fresh = ents.filter((e) => e.index > last);
    if (fresh.length > 0) this.log.append(fresh);
  }
}

export const brokenVariants: { name: string; factory: NodeFactory }[] = [
  { name: 'leader reads without ReadIndex', factory: (c) => new ReadWithoutReadIndex(c) },
  { name: 'commit counts an old-term entry', factory: (c) => new CommitOldTermEntry(c) },
  { name: 'follower keeps a conflicting suffix', factory: (c) => new KeepConflictingSuffix(c) },
];
