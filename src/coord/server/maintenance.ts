// etcdserverpb.Maintenance: what `etcdctl endpoint status/health/hashkv` and monitoring need.
import type * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { int64, uint64 } from '../node/index.js';
import { CoordError } from '../types.js';
import type { CoordBackend } from './backend.js';
import { serviceDefinition, type ServiceDef } from './codec.js';
import { unary } from './unary.js';

const ALARM_ACTIONS = 3;
const ALARM_TYPES = 3;

export function maintenanceService(node: CoordBackend, log: Logger): [ServiceDef, grpc.UntypedServiceImplementation] {
  const def = serviceDefinition('etcdserverpb.Maintenance', {
    Alarm: (m) => {
      if (!((m.action as number) < ALARM_ACTIONS) || !((m.alarm as number) < ALARM_TYPES)) {
        throw new CoordError('INVALID_ARGUMENT', 'shoal: invalid alarm request');
      }
      return m;
    },
    // Requests are objects: grpc-js takes a falsy request (the number 0) for a missing one.
    HashKV: (m) => ({ revision: int64(m.revision, 'revision') }),
    MoveLeader: (m) => ({ target: uint64(m.targetID, 'target ID') }),
  });
  // Like etcd, Alarm, Defragment and MoveLeader answer without a header.
  const impl: grpc.UntypedServiceImplementation = {
    Status: unary(
      node,
      log,
      () => {
        const s = node.status();
        return {
          header: node.header(node.revision),
          version: s.version,
          dbSize: s.dbSize,
          leader: s.leader,
          raftIndex: s.raftIndex,
          raftTerm: s.raftTerm,
          raftAppliedIndex: s.raftAppliedIndex,
          errors: [],
          dbSizeInUse: s.dbSize,
          isLearner: s.isLearner,
        };
      },
      { learnerServes: () => true },
    ),
    // No alarms are ever raised (no space quota yet): every action answers with an empty list.
    Alarm: unary(node, log, () => ({ alarms: [] })),
    // Storage is the log plus snapshots; there is nothing to defragment.
    Defragment: unary(node, log, () => ({})),
    HashKV: unary(node, log, ({ revision }: { revision: number }) => {
      const h = node.hashKv(revision);
      return { header: node.header(h.revision), hash: h.hash, compactRevision: h.compactRevision };
    }),
    Hash: unary(node, log, () => {
      const revision = node.revision;
      return { header: node.header(revision), hash: node.hash() };
    }),
    // On the leader only (etcdctl move-leader finds it); resolves once the transferee leads.
    MoveLeader: unary(node, log, async ({ target }: { target: number }) => {
      await node.membership.moveLeader(target);
      return {};
    }),
  };
  return [def, impl];
}
