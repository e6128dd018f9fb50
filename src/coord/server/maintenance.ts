// etcdserverpb.Maintenance: what `etcdctl endpoint status/health` and monitoring need.
import type * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { uint64 } from '../node/index.js';
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
    MoveLeader: (m) => uint64(m.targetID, 'target ID'),
  });
  const impl: grpc.UntypedServiceImplementation = {
    Status: unary(node, log, () => {
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
    }),
    // No alarms are ever raised (no space quota yet): every action answers with an empty list.
    Alarm: unary(node, log, () => ({ header: node.header(node.revision), alarms: [] })),
    // Storage is the log plus snapshots; there is nothing to defragment.
    Defragment: unary(node, log, () => ({ header: node.header(node.revision) })),
    // On the leader only (etcdctl move-leader finds it); resolves once the transferee leads.
    MoveLeader: unary(node, log, async (target: number) => {
      await node.membership.moveLeader(target);
      return { header: node.header(node.revision) };
    }),
  };
  return [def, impl];
}
