// etcdserverpb.Cluster: the member list. Membership changes arrive with Raft.
import type * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { CoordError } from '../types.js';
import type { CoordBackend } from './backend.js';
import { serviceDefinition, type ServiceDef } from './codec.js';
import { unary } from './unary.js';

const notYet = () => {
  throw new CoordError('UNIMPLEMENTED', 'shoal: membership changes are not yet supported: replication arrives with Raft');
};

export function clusterService(node: CoordBackend, log: Logger): [ServiceDef, grpc.UntypedServiceImplementation] {
  const def = serviceDefinition('etcdserverpb.Cluster');
  const impl: grpc.UntypedServiceImplementation = {
    MemberList: unary(node, log, () => ({
      header: node.header(node.revision),
      members: node.members().map((m) => ({
        ID: m.id,
        name: m.name,
        peerURLs: m.peerUrls,
        clientURLs: m.clientUrls,
        isLearner: false,
      })),
    })),
    MemberAdd: unary(node, log, notYet),
    MemberRemove: unary(node, log, notYet),
    MemberUpdate: unary(node, log, notYet),
    MemberPromote: unary(node, log, notYet),
  };
  return [def, impl];
}
