// What the gRPC layer needs from a coordinator node. The single-node CoordNode implements it
// today; a Raft-backed node implements the same surface later.
import type { WatchRequest, WatchSink } from '../index.js';
import type {
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
}

export interface NodeStatus {
  version: string;
  dbSize: number;
  leader: number;
  raftIndex: number;
  raftTerm: number;
  raftAppliedIndex: number;
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
  /** Renews a lease from now; returns its TTL in seconds, or 0 when it does not exist. */
  leaseKeepAlive(id: number): number;
  leaseTimeToLive(id: number, keys: boolean): LeaseTimeToLiveResponse;
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
  members(): MemberInfo[];
  status(): NodeStatus;
  /** True once close() began: new calls are refused. */
  readonly stopping: boolean;
}

export type { KeyValue, WatchRequest, WatchSink };
