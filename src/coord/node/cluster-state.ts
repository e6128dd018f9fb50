// The replicated membership of a Raft-backed coordinator: each member's id, name, peer and
// client URLs and learner flag, the ids removed for good, and the cluster id. It changes only by
// log entries (Raft conf changes, whose context names the member, and member-attribute
// commands), so every member shows the same list, and it travels in Raft snapshots.
import type { ConfChange, ConfState } from '../../raft/index.js';
import { invariant } from '../errors.js';

export interface MemberRecord {
  id: number;
  /** Empty until the member started and published its attributes (etcd: "unstarted"). */
  name: string;
  peerUrls: string[];
  clientUrls: string[];
  isLearner: boolean;
}

/** What a conf change entry says about the member it adds, promotes or removes. */
export interface MemberChange {
  id: number;
  peerUrls?: string[];
  name?: string;
}

/** Member data changed through the log without a conf change. */
export type ClusterCommand =
  | { type: 'attrs'; id: number; name: string; clientUrls: string[] }
  | { type: 'peerUrls'; id: number; peerUrls: string[] };

interface Image {
  clusterId: number;
  members: MemberRecord[];
  removed: number[];
}

export class ClusterState {
  private constructor(
    private readonly clusterIdValue: number,
    private readonly table: Map<number, MemberRecord>,
    private readonly removedIds: Set<number>,
  ) {}

  /** A new cluster's founding members, all voters. */
  static founding(clusterId: number, founders: readonly { id: number; name: string; peerUrls: string[] }[]): ClusterState {
    const table = new Map<number, MemberRecord>();
    for (const f of founders) table.set(f.id, { id: f.id, name: f.name, peerUrls: [...f.peerUrls], clientUrls: [], isLearner: false });
    return new ClusterState(clusterId, table, new Set());
  }

  static decode(buf: Uint8Array): ClusterState {
    const img = JSON.parse(Buffer.from(buf).toString('utf8')) as Image;
    invariant(Number.isSafeInteger(img.clusterId) && Array.isArray(img.members), 'a cluster image holds an id and members');
    return new ClusterState(img.clusterId, new Map(img.members.map((m) => [m.id, m])), new Set(img.removed));
  }

  encode(): Buffer {
    const img: Image = { clusterId: this.clusterIdValue, members: this.list(), removed: [...this.removedIds].sort((a, b) => a - b) };
    return Buffer.from(JSON.stringify(img), 'utf8');
  }

  get clusterId(): number {
    return this.clusterIdValue;
  }

  /** Members by id. */
  list(): MemberRecord[] {
    return [...this.table.values()].sort((a, b) => a.id - b.id).map((m) => ({ ...m, peerUrls: [...m.peerUrls], clientUrls: [...m.clientUrls] }));
  }

  get(id: number): MemberRecord | undefined {
    return this.table.get(id);
  }

  isRemoved(id: number): boolean {
    return this.removedIds.has(id);
  }

  /** The member whose peer URLs include `url`, if any. */
  byPeerUrl(url: string): MemberRecord | undefined {
    for (const m of this.table.values()) if (m.peerUrls.includes(url)) return m;
    return undefined;
  }

  /**
   * Applies a committed conf change; `change` is its context (absent for the core's own
   * changes). Afterwards the table holds exactly the voters and learners of `conf`.
   */
  applyConfChange(cc: ConfChange, change: MemberChange | undefined, conf: ConfState): void {
    for (const c of cc.changes) {
      if (c.type === 'removeNode') {
        this.table.delete(c.nodeId);
        this.removedIds.add(c.nodeId);
        continue;
      }
      const known = this.table.get(c.nodeId);
      const about = change?.id === c.nodeId ? change : undefined;
      this.table.set(c.nodeId, {
        id: c.nodeId,
        name: known?.name ?? about?.name ?? '',
        peerUrls: known?.peerUrls ?? about?.peerUrls ?? [],
        clientUrls: known?.clientUrls ?? [],
        isLearner: c.type === 'addLearner',
      });
    }
    const learners = new Set([...conf.learners, ...conf.learnersNext]);
    const members = new Set([...conf.voters, ...conf.votersOutgoing, ...learners]);
    for (const id of [...this.table.keys()]) if (!members.has(id)) this.table.delete(id);
    for (const m of this.table.values()) m.isLearner = learners.has(m.id) && !conf.voters.includes(m.id);
  }

  apply(cmd: ClusterCommand): void {
    const m = this.table.get(cmd.id);
    // A command about a member removed meanwhile changes nothing.
    if (m === undefined) return;
    if (cmd.type === 'attrs') {
      m.name = cmd.name;
      m.clientUrls = [...cmd.clientUrls];
    } else {
      m.peerUrls = [...cmd.peerUrls];
    }
  }
}

export function encodeMemberChange(c: MemberChange): Buffer {
  return Buffer.from(JSON.stringify(c), 'utf8');
}

export function decodeMemberChange(buf: Uint8Array | undefined): MemberChange | undefined {
  if (buf === undefined || buf.length === 0) return undefined;
  const c = JSON.parse(Buffer.from(buf).toString('utf8')) as MemberChange;
  invariant(Number.isSafeInteger(c.id), 'a member change names a member id');
  return c;
}
