// etcdserverpb.Cluster: the member list and membership changes (Raft conf changes on a
// replicated coordinator; a one-member coordinator on its own WAL refuses changes).
import type * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { uint64, type WireMsg } from '../node/index.js';
import { CoordError } from '../types.js';
import type { CoordBackend, MemberInfo } from './backend.js';
import { serviceDefinition, type ServiceDef } from './codec.js';
import { unary } from './unary.js';

interface AddRequest {
  peerUrls: string[];
  isLearner: boolean;
}

interface UpdateRequest {
  id: number;
  peerUrls: string[];
}

/** Peer URLs as etcd keeps them: http(s)://host:port, no path. */
function peerUrls(m: WireMsg): string[] {
  const urls = (m.peerURLs as string[]).map((text) => {
    let u: URL;
    try {
      u = new URL(text);
    } catch {
      throw new CoordError('INVALID_ARGUMENT', `shoal: invalid peer URL "${text}"`);
    }
    if (u.protocol !== 'http:' || u.port === '' || (u.pathname !== '/' && u.pathname !== '')) {
      throw new CoordError('INVALID_ARGUMENT', `shoal: invalid peer URL "${text}" (expected http://host:port)`);
    }
    return `${u.protocol}//${u.host}`;
  });
  if (urls.length === 0) throw new CoordError('INVALID_ARGUMENT', 'shoal: a member needs at least one peer URL');
  return urls;
}

function wireMember(m: MemberInfo): object {
  return { ID: m.id, name: m.name, peerURLs: m.peerUrls, clientURLs: m.clientUrls, isLearner: m.isLearner };
}

export function clusterService(node: CoordBackend, log: Logger): [ServiceDef, grpc.UntypedServiceImplementation] {
  const def = serviceDefinition('etcdserverpb.Cluster', {
    MemberAdd: (m): AddRequest => ({ peerUrls: peerUrls(m), isLearner: m.isLearner === true }),
    // Objects, not bare ids: grpc-js takes a falsy request (id 0) for a missing one.
    MemberRemove: (m) => ({ id: uint64(m.ID, 'member ID') }),
    MemberPromote: (m) => ({ id: uint64(m.ID, 'member ID') }),
    MemberUpdate: (m): UpdateRequest => ({ id: uint64(m.ID, 'member ID'), peerUrls: peerUrls(m) }),
  });
  // etcd's cluster service answers from membership, not the key space: its headers carry no revision.
  const list = (members: MemberInfo[]) => ({ header: node.header(0), members: members.map(wireMember) });
  const impl: grpc.UntypedServiceImplementation = {
    MemberList: unary(node, log, () => list(node.members())),
    MemberAdd: unary(node, log, async (req: AddRequest) => {
      const { member, members } = await node.membership.add(req.peerUrls, req.isLearner);
      return { ...list(members), member: wireMember(member) };
    }),
    MemberRemove: unary(node, log, async ({ id }: { id: number }) => list(await node.membership.remove(id))),
    MemberUpdate: unary(node, log, async (req: UpdateRequest) => list(await node.membership.updatePeerUrls(req.id, req.peerUrls))),
    MemberPromote: unary(node, log, async ({ id }: { id: number }) => list(await node.membership.promote(id))),
  };
  return [def, impl];
}
