// Durable storage for the Raft host, on the WAL and snapshot files of src/wal.
export { DiskStorage, type DiskStorageOptions, type PersistUpdate, type RecoveredState } from './disk-storage.js';
export { RecoveryError } from './replay.js';
