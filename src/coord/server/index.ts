// The coordinator's etcd v3 gRPC API.
export { startCoordServer, type CoordServer, type CoordServerOptions, type ListenAddress } from './server.js';
export type { CoordBackend, MemberInfo, NodeStatus, ResponseHeader } from './backend.js';
export { MAX_REQUEST_BYTES, MAX_RECEIVE_BYTES } from './codec.js';
export { GrpcLeaderClient, FORWARDED_HEADER } from './leader-client.js';
export { probeMember, type MemberProbe } from './probe.js';
