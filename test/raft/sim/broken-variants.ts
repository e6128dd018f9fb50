// Deliberately broken Raft cores (the classes in ../broken-variants.ts, each overriding one
// protected decision of the real core) as simulator node factories. They exist only here: the
// simulator must catch every one of them. Each is an export, so a failing seed replays with
// `npm run sim -- --seed S --core test/raft/sim/broken-variants.ts#NAME`.

import type { NodeFactory } from '../../../src/raft/sim/index.js';
import { CommitsOldTermEntries, KeepsConflictingSuffix, ReadsWithoutReadIndex } from '../broken-variants.js';

/** The leader answers a read with its commit index, without confirming it still leads. */
export const readWithoutReadIndex: NodeFactory = (c) => new ReadsWithoutReadIndex(c);
/** The leader commits any entry a quorum stores, even one from an earlier term (figure 8). */
export const commitOldTermEntry: NodeFactory = (c) => new CommitsOldTermEntries(c);
/** A follower keeps its conflicting suffix and only appends entries beyond its last index. */
export const keepConflictingSuffix: NodeFactory = (c) => new KeepsConflictingSuffix(c);

export const CORE_MODULE = 'test/raft/sim/broken-variants.ts';

export const brokenVariants: { name: string; exportName: string; factory: NodeFactory }[] = [
  { name: 'leader reads without ReadIndex', exportName: 'readWithoutReadIndex', factory: readWithoutReadIndex },
  { name: 'commit counts an old-term entry', exportName: 'commitOldTermEntry', factory: commitOldTermEntry },
  { name: 'follower keeps a conflicting suffix', exportName: 'keepConflictingSuffix', factory: keepConflictingSuffix },
];
