// Peer transport for Raft: the binary codec for messages (also used by storage for entries,
// hard states and snapshots) and a TCP transport with batching, bounded queues and reconnect.
export { PeerTransport, type TransportOptions, type TransportStats } from './transport.js';
export type { PeerAddress, LinkStats } from './link.js';
export { ByteReader, ByteWriter, CodecError } from './bytes.js';
export {
  decodeMessage,
  decodeSnapshot,
  encodeMessage,
  encodeSnapshot,
  readEntry,
  readHardState,
  readMessage,
  readSnapshot,
  writeEntry,
  writeHardState,
  writeMessage,
  writeSnapshot,
} from './codec.js';
export { FrameDecoder, writeFrame } from './frame.js';
