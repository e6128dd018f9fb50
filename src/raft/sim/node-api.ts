// The part of the core's node API the simulator drives (etcd's RawNode shape). Kept as an
// interface so tests can hand the simulator deliberately broken variants of the core.

import type { Message, RaftConfig, Ready } from '../types.js';
import { RaftNode } from '../index.js';

export interface SimRaftNode {
  tick(): void;
  step(m: Message): void;
  /** Throws (e.g. ProposalDroppedError) when the proposal is rejected outright. */
  propose(data: Uint8Array): void;
  readIndex(context: Uint8Array): void;
  hasReady(): boolean;
  ready(): Ready;
  advance(rd: Ready): void;
  /** The transport's verdict on a snapshot it carried to `id`. */
  reportSnapshot(id: number, ok: boolean): void;
  reportUnreachable(id: number): void;
}

export type NodeFactory = (config: RaftConfig) => SimRaftNode;

/** The real core. */
export const coreNode: NodeFactory = (config) => new RaftNode(config);
