import type { Entry } from '../types.js';

/**
 * The size an entry counts for in byte limits (maxSizePerMsg, maxBytes of storage reads,
 * maxCommittedSizePerReady): its payload plus a fixed 16 bytes for term and index. The fixed
 * part makes a limit of 0 mean "one entry at a time" even for empty entries.
 */
export function entrySize(e: Entry): number {
  return e.data.byteLength + 16;
}

/** The longest prefix of `ents` within `maxBytes`, but never less than one entry. */
export function limitSize(ents: Entry[], maxBytes: number | undefined): Entry[] {
  if (maxBytes === undefined || ents.length === 0) return ents;
  let size = entrySize(ents[0]!);
  let n = 1;
  for (; n < ents.length; n++) {
    size += entrySize(ents[n]!);
    if (size > maxBytes) break;
  }
  return n === ents.length ? ents : ents.slice(0, n);
}
