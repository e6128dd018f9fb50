// What the gRPC layer needs from a coordinator node (CoordNode, single-node or on Raft).
import type { HashKvResult, WatchRequest, WatchSink } from '../index.js';
import type { Membership } from '../node/index.js';
import type {
  CoordError,
  Command,
  CommandResult,
  KeyValue,
  LeaseTimeToLiveResponse,
  RangeRequest,
  RangeResponse,
} from '../types.js';

export interface ResponseHeader {
  clusterId: number;
  memberId: number;
  revision: number;
  raftTerm: number;
}

export interface MemberInfo {
  id: number;
  name: string;
  peerUrls: string[];
  clientUrls: string[];
  isLearner: boolean;
}

export interface NodeStatus {
  version: string;
  dbSize: number;
  leader: number;
  raftIndex: number;
  raftTerm: number;
  raftAppliedIndex: number;
  isLearner: boolean;
}

export interface CoordBackend {
  readonly memberId: number;
  readonly clusterId: number;
  header(revision: number): ResponseHeader;
  /** The store's current revision. */
  readonly revision: number;
  propose(cmd: Command): Promise<CommandResult>;
  /** A read: linearizable unless req.serializable. */
  range(req: RangeRequest): RangeResponse | Promise<RangeResponse>;
  /** Picks an unused lease id (positive, below 2^53). */
  newLeaseId(): number;
  /**
   * Renews a lease from now (on the leader; a follower forwards it unless `forwarded`, i.e. it
   * already was); returns its TTL in seconds, or 0 when it does not exist.
   */
  leaseKeepAlive(id: number, forwarded?: boolean): number | Promise<number>;
  /** The remaining TTL as the leader knows it (forwarded like leaseKeepAlive). */
  leaseTimeToLive(id: number, keys: boolean, forwarded?: boolean): LeaseTimeToLiveResponse | Promise<LeaseTimeToLiveResponse>;
  leaseIds(): number[];
  /**
   * Starts a watch on the node's hub (src/coord/watch): `created` reaches the sink before this
   * returns; history from a compacted start revision ends in `canceled` with compactRevision.
   * Returns the hub's watch id.
   */
  watch(req: WatchRequest, sink: WatchSink): number;
  /** Ends a watch; its sink gets `canceled`. */
  cancelWatch(hubId: number): void;
  isWatchSynced(hubId: number): boolean;
  /** etcd's HashKV on this member's applied key space (no read barrier, as etcd). */
  hashKv(revision: number): HashKvResult;
  /** etcd's Hash on this member's applied key space. */
  hash(): number;
  /** True while this member is a learner: etcd refuses it most client calls. */
  readonly isLearner: boolean;
  members(): MemberInfo[];
  /** Membership changes (etcd's Cluster service). */
  readonly membership: Membership;
  status(): NodeStatus;
  /** True once close() began (or the member was removed): streams end. */
  readonly stopping: boolean;
  /** The error every new call gets while the member does not serve, or null. */
  refusal(): CoordError | null;
}

export type { KeyValue, WatchRequest, WatchSink };
