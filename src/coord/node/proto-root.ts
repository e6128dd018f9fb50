// Loads the `proto/` files (etcd's v3 API in Shoal's words, plus the command log record).
// The directory sits at the package root; this module lives three levels below it both as
// src/coord/node/*.ts and as dist/coord/node/*.js, so one relative URL serves both layouts.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';

export const PROTO_DIR = fileURLToPath(new URL('../../../proto/', import.meta.url));

const FILES = [
  'etcdserverpb/rpc.proto',
  'v3lockpb/v3lock.proto',
  'v3electionpb/v3election.proto',
  'shoalpb/command.proto',
];

let root: protobuf.Root | null = null;

/** The resolved protobuf root holding every coordinator message and service. */
export function protoRoot(): protobuf.Root {
  if (root !== null) return root;
  if (!existsSync(join(PROTO_DIR, FILES[0]))) {
    throw new Error(`coord: proto files not found under ${PROTO_DIR}`);
  }
  // int64 fields must decode to Long (not lossy numbers) so the edge can reject values > 2^53.
  if (!protobuf.util.Long) throw new Error('coord: protobufjs has no Long support (package "long" missing)');
  const r = new protobuf.Root();
  r.resolvePath = (_origin, target) => join(PROTO_DIR, target);
  r.loadSync(FILES, { keepCase: false });
  r.resolveAll();
  root = r;
  return r;
}

export function messageType(name: string): protobuf.Type {
  return protoRoot().lookupType(name);
}
