// The coordinator's gRPC server: every etcd v3 service on the listed addresses.
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { CoordBackend } from './backend.js';
import { clusterService } from './cluster.js';
import { MAX_RECEIVE_BYTES } from './codec.js';
import { electionService } from './election.js';
import { kvService } from './kv.js';
import { leaseService } from './lease.js';
import { lockService } from './lock.js';
import { maintenanceService } from './maintenance.js';
import { OpenStreams } from './stream.js';
import { watchService } from './watch.js';

export interface ListenAddress {
  host: string;
  /** 0: any free port. */
  port: number;
}

export interface CoordServerOptions {
  backend: CoordBackend;
  log: Logger;
  listen: ListenAddress[];
  /** How long a graceful stop waits for in-flight calls before cutting them. Default 5 s. */
  shutdownGraceMs?: number;
}

export interface CoordServer {
  /** The bound addresses, in the order given (ports resolved when 0 was asked for). */
  readonly addresses: ListenAddress[];
  /** Stops accepting calls, ends open streams, waits (bounded) for in-flight unary calls. */
  close(): Promise<void>;
}

export async function startCoordServer(options: CoordServerOptions): Promise<CoordServer> {
  const { backend, log } = options;
  const server = new grpc.Server({
    'grpc.max_receive_message_length': MAX_RECEIVE_BYTES,
    'grpc.max_send_message_length': -1,
    // Per-call channelz bookkeeping costs CPU on every request; nothing here reads it.
    'grpc.enable_channelz': 0,
  });
  const streams = new OpenStreams();
  const services = [
    kvService(backend, log),
    watchService(backend, log, streams),
    leaseService(backend, log, streams),
    clusterService(backend, log),
    maintenanceService(backend, log),
    lockService(backend, log),
    electionService(backend, log, streams),
  ];
  for (const [def, impl] of services) server.addService(def, impl);

  const addresses: ListenAddress[] = [];
  try {
    for (const a of options.listen) {
      const target = a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
      const port = await new Promise<number>((resolve, reject) =>
        server.bindAsync(target, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
      );
      addresses.push({ host: a.host, port });
    }
  } catch (err) {
    server.forceShutdown();
    throw err;
  }

  let closing: Promise<void> | null = null;
  const close = () => {
    closing ??= new Promise<void>((resolve) => {
      streams.endAll();
      const timer = setTimeout(() => {
        log.warn('coord: in-flight calls did not finish in time; cutting them');
        server.forceShutdown();
        resolve();
      }, options.shutdownGraceMs ?? 5000);
      server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
    return closing;
  };
  return { addresses, close };
}
