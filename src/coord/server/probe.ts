// A small client for operators' tools (shoal up, shoal status): a member's Maintenance.Status
// and whether it serves a linearizable read, as `etcdctl endpoint status/health` ask them.
import * as grpc from '@grpc/grpc-js';
import { uint64, type WireMsg } from '../node/index.js';
import { serviceDefinition } from './codec.js';

export interface MemberProbe {
  url: string;
  /** Member id as etcdctl prints it (hex). */
  id: string;
  clusterId: string;
  /** Leader's member id (hex), '' when there is none. */
  leader: string;
  raftTerm: number;
  raftIndex: number;
  raftAppliedIndex: number;
  isLearner: boolean;
  /** A linearizable read succeeded (etcdctl endpoint health). */
  healthy: boolean;
  /** Why it is unhealthy or did not answer. */
  error?: string;
}

type Unary = (req: object, md: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: WireMsg) => void) => void;

function call(client: grpc.Client, method: string, req: object, timeoutMs: number): Promise<WireMsg> {
  const fn = (client as unknown as Record<string, Unary>)[method]!;
  return new Promise((resolve, reject) =>
    fn.call(client, req, new grpc.Metadata(), { deadline: Date.now() + timeoutMs }, (err, res) => (err !== null || res === undefined ? reject(err) : resolve(res))),
  );
}

/** Asks the member at `url` (http://host:port) for its status and a linearizable read. */
export async function probeMember(url: string, timeoutMs = 2000): Promise<MemberProbe> {
  const target = url.replace(/^https?:\/\//, '');
  const Maintenance = grpc.makeGenericClientConstructor(serviceDefinition('etcdserverpb.Maintenance'), 'Maintenance');
  const KV = grpc.makeGenericClientConstructor(serviceDefinition('etcdserverpb.KV'), 'KV');
  const m = new Maintenance(target, grpc.credentials.createInsecure());
  const kv = new KV(target, grpc.credentials.createInsecure());
  const out: MemberProbe = { url, id: '', clusterId: '', leader: '', raftTerm: 0, raftIndex: 0, raftAppliedIndex: 0, isLearner: false, healthy: false };
  try {
    const s = await call(m, 'Status', {}, timeoutMs);
    const header = s.header as WireMsg;
    out.id = uint64(header.memberId, 'member_id').toString(16);
    out.clusterId = uint64(header.clusterId, 'cluster_id').toString(16);
    const leader = uint64(s.leader, 'leader');
    out.leader = leader === 0 ? '' : leader.toString(16);
    out.raftTerm = uint64(s.raftTerm, 'raft_term');
    out.raftIndex = uint64(s.raftIndex, 'raft_index');
    out.raftAppliedIndex = uint64(s.raftAppliedIndex, 'raft_applied_index');
    out.isLearner = s.isLearner === true;
    await call(kv, 'Range', { key: Buffer.from('health') }, timeoutMs);
    out.healthy = true;
  } catch (err) {
    out.error = (err as grpc.ServiceError).details || (err as Error).message;
  } finally {
    m.close();
    kv.close();
  }
  return out;
}
