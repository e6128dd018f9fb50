// A lean gRPC server over our own HTTP/2 (connection.ts), for the coordinator's etcd v3 API.
export { LeanGrpcServer, type LeanServerOptions } from './server.js';
export { DEADLINE_UNITS_MS, statusOf } from './call.js';
