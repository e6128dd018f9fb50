// Hashes of the key space for consistency checks between members (etcd's Maintenance.Hash and
// HashKV). Like etcd's, HashKV(rev) covers every version written at or below `rev`, except the
// versions a compaction at `rev` would drop from before the last compaction, so members that
// compacted at different times still agree; and it does not change when later revisions are
// written. The values are Shoal's own (CRC-32 over Shoal's encoding), not etcd's bolt bytes.
import { crc32 } from 'node:zlib';
import type { KeyValue } from '../types.js';
import { ErrCompacted, ErrFutureRev } from '../errors.js';
import { isTombstone } from './key-history.js';
import type { MvccStore } from './store.js';

export interface HashKvResult {
  hash: number;
  /** The store's current revision (the response header's). */
  revision: number;
  /** etcd's compactMainRev: -1 when never compacted. */
  compactRevision: number;
}

/** etcd's HashByRev: `revision` 0 means the current revision. */
export function hashKv(store: MvccStore, revision: number): HashKvResult {
  const compactedAt = store.compactedAt;
  const current = store.currentRevision;
  if (revision > 0 && revision <= compactedAt) throw ErrCompacted();
  if (revision > current) throw ErrFutureRev();
  const upTo = revision > 0 ? revision : current;
  let h = crc32('kv');
  for (const history of store.histories()) {
    const versions = history.versions;
    for (let i = 0; i < versions.length; i++) {
      const kv = versions[i]!;
      if (kv.modRevision > upTo) break;
      if (kv.modRevision <= compactedAt) {
        // Kept only if a compaction at `upTo` would keep it: the key's live version there.
        const next = versions[i + 1];
        if (isTombstone(kv) || (next !== undefined && next.modRevision <= upTo)) continue;
      }
      h = hashVersion(h, kv);
    }
  }
  return { hash: h >>> 0, revision: current, compactRevision: compactedAt };
}

/** etcd's Hash: everything the store holds, compacted or not yet, and the leases (by id). */
export function hashAll(store: MvccStore, leases: readonly { id: number; ttl: number }[]): number {
  let h = crc32('all');
  for (const history of store.histories()) {
    for (const kv of history.versions) h = hashVersion(h, kv);
  }
  const lease = Buffer.alloc(16);
  for (const { id, ttl } of leases) {
    lease.writeDoubleBE(id, 0);
    lease.writeDoubleBE(ttl, 8);
    h = crc32(lease, h);
  }
  return h >>> 0;
}

const scratch = Buffer.alloc(40);

function hashVersion(h: number, kv: KeyValue): number {
  // Lengths first, so that no two different versions feed the same bytes.
  scratch.writeUInt32BE(kv.key.length, 0);
  scratch.writeUInt32BE(kv.value.length, 4);
  scratch.writeDoubleBE(kv.createRevision, 8);
  scratch.writeDoubleBE(kv.modRevision, 16);
  scratch.writeDoubleBE(kv.version, 24);
  scratch.writeDoubleBE(kv.lease, 32);
  h = crc32(scratch, h);
  h = crc32(kv.key, h);
  return crc32(kv.value, h);
}
