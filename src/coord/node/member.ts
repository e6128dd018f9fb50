// The member's identity, fixed when its data directory is created: member id and cluster id
// (derived like etcd's, from peer URLs and the cluster token), name and URLs. Kept in
// <data-dir>/member/identity.json, written atomically.
import { createHash } from 'node:crypto';
import { open, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';

export interface MemberIdentity {
  memberId: number;
  /** 0 for a member that joined a running cluster: it learns the id from the cluster's snapshot. */
  clusterId: number;
  name: string;
  peerUrls: string[];
  /**
   * Replicated (Raft) members only: the founding members from --initial-cluster as first
   * started (empty when joining a running cluster). Like etcd, later starts ignore the flag.
   */
  founders?: { id: number; name: string; peerUrls: string[] }[];
}

const FILE = 'identity.json';

/** A positive id below 2^48 from a hash, so it survives JSON and JS numbers exactly. */
function hashId(text: string): number {
  const id = createHash('sha256').update(text).digest().readUIntBE(0, 6);
  return id === 0 ? 1 : id;
}

/** A member's id: from its sorted peer URLs and the cluster token, as etcd derives it. */
export function memberIdOf(peerUrls: readonly string[], clusterToken: string): number {
  return hashId(`member|${[...peerUrls].sort().join(',')}|${clusterToken}`);
}

/** The cluster's id: from its founding members' ids and the token (etcd: genID over the ids). */
export function clusterIdOf(founderIds: readonly number[], clusterToken: string): number {
  return hashId(`cluster|${[...founderIds].sort((a, b) => a - b).join(',')}|${clusterToken}`);
}

export function deriveIdentity(name: string, peerUrls: string[], clusterToken: string): MemberIdentity {
  const urls = [...peerUrls].sort();
  const memberId = memberIdOf(urls, clusterToken);
  return { memberId, clusterId: clusterIdOf([memberId], clusterToken), name, peerUrls: urls };
}

/** The stored identity, or null for a fresh member directory. */
export async function loadIdentity(memberDir: string): Promise<MemberIdentity | null> {
  let text: string;
  try {
    text = await readFile(join(memberDir, FILE), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  const v = JSON.parse(text) as MemberIdentity;
  if (!Number.isSafeInteger(v.memberId) || !Number.isSafeInteger(v.clusterId) || typeof v.name !== 'string') {
    throw new Error(`coord: ${join(memberDir, FILE)} is not a valid member identity`);
  }
  return v;
}

export async function saveIdentity(memberDir: string, id: MemberIdentity, sync: boolean): Promise<void> {
  const path = join(memberDir, FILE);
  const fh = await open(path + '.tmp', 'w');
  try {
    await fh.writeFile(JSON.stringify(id) + '\n');
    if (sync) await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(path + '.tmp', path);
  if (sync) {
    const dir = await open(memberDir, 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  }
}
