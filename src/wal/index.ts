// Durable storage: a segmented write-ahead log with group commit, and snapshot files.
//
//   const { wal, records, repaired } = await Wal.open({ dir });   // records: every stored record
//   const lsn = await wal.append(buf);        // resolves once fdatasync'ed; LSNs start at 1
//   await wal.releaseBefore(lsn);             // after a snapshot covering everything below lsn
//
// Recovery cuts a torn or corrupt tail of the last segment (reported in `repaired`); damage that
// would lose acknowledged records throws WalCorruptionError. One process per directory.
export { Wal, type AppendOptions, type WalOpenResult } from './wal.js';
export { SnapshotStore, type StoredSnapshot, type SnapshotStoreOptions } from './snapshot.js';
export { WalCorruptionError, type WalOptions, type WalRecord, type WalRepair, type WalStats } from './types.js';
