// The coordinator node: the command log seam and its two logs (single-node WAL, Raft), the
// member assembly, the wire codec.
export type { CommandLog, Membership, MemberRecord } from './command-log.js';
export { encodeCommand, decodeCommand } from './command-codec.js';
export { protoRoot, messageType, PROTO_DIR } from './proto-root.js';
export {
  bytes,
  int64,
  uint64,
  nonNegative,
  rangeFromWire,
  putFromWire,
  deleteRangeFromWire,
  txnFromWire,
  compactionFromWire,
  leaseGrantFromWire,
  leaseRevokeFromWire,
  MAX_TXN_OPS,
  type WireMsg,
} from './wire.js';
export { SingleNodeLog, type SingleNodeLogOptions } from './single-node-log.js';
export { RaftCommandLog, ErrRemoved, type RaftLogOptions } from './raft-log.js';
export {
  CoordNode,
  COORD_VERSION,
  type CoordNodeOptions,
  type LeaderClient,
  type OpenReport,
  type RaftMemberOptions,
} from './coord-node.js';
export { deriveIdentity, memberIdOf, clusterIdOf, type MemberIdentity } from './member.js';
