// The coordinator node: command log seam, the single-node log on the WAL, the wire codec.
export type { CommandLog } from './command-log.js';
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
export { CoordNode, COORD_VERSION, type CoordNodeOptions, type OpenReport } from './coord-node.js';
export { deriveIdentity, type MemberIdentity } from './member.js';
