// The coordinator's gRPC server: every etcd v3 service on the listed addresses.
import { lookup } from 'node:dns/promises';
import * as net from 'node:net';
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { COORD_VERSION } from '../node/index.js';
import { acceptWithAuthorityShim } from './authority-shim.js';
import type { CoordBackend } from './backend.js';
import { clusterService } from './cluster.js';
import { MAX_RECEIVE_BYTES } from './codec.js';
import { electionService } from './election.js';
import { LeanGrpcServer } from '../grpc/index.js';
import { attachFastUnary, type FastMethod } from './fast-unary.js';
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
  /**
   * Which gRPC server speaks HTTP/2: 'lean' (src/coord/grpc, the default) or 'grpc-js' (with the
   * authority shim and, unless fastUnary is false, fast-unary.ts for the KV calls).
   */
  grpcServer?: 'lean' | 'grpc-js';
  /** grpc-js only: serve KV Range/Put/DeleteRange/Txn on the lean path (fast-unary.ts). Default true. */
  fastUnary?: boolean;
}

/** The calls served on the lean path: the KV service's, whose handlers read only the request. */
const FAST_KV_METHODS = ['Range', 'Put', 'DeleteRange', 'Txn'];

export interface CoordServer {
  /** The bound addresses, in the order given (ports resolved when 0 was asked for). */
  readonly addresses: ListenAddress[];
  /** Whether the hot KV calls skip grpc-js's call layers (always so with the lean server). */
  readonly fastUnary: boolean;
  /** The gRPC server in use. */
  readonly grpcServer: 'lean' | 'grpc-js';
  /** Stops accepting calls, ends open streams, waits (bounded) for in-flight unary calls. */
  close(): Promise<void>;
}

export async function startCoordServer(options: CoordServerOptions): Promise<CoordServer> {
  const { backend, log } = options;
  const grpcServer = options.grpcServer ?? 'lean';
  const server = new grpc.Server({
    'grpc.max_receive_message_length': MAX_RECEIVE_BYTES,
    'grpc.max_send_message_length': -1,
    // Per-call channelz bookkeeping costs CPU on every request; nothing here reads it.
    'grpc.enable_channelz': 0,
  });
  const streams = new OpenStreams();
  const kv = kvService(backend, log);
  const services = [
    kv,
    watchService(backend, log, streams),
    leaseService(backend, log, streams),
    clusterService(backend, log),
    maintenanceService(backend, log),
    lockService(backend, log),
    electionService(backend, log, streams),
  ];
  const examining = new Set<net.Socket>();
  const listeners: net.Server[] = [];
  let closingStarted = false;
  let fastUnary = true;
  let accept: (socket: net.Socket) => void;
  let shutdown: { graceful(cb: () => void): void; force(): void };
  if (grpcServer === 'lean') {
    const lean = new LeanGrpcServer({ maxReceiveBytes: MAX_RECEIVE_BYTES, log });
    for (const [def, impl] of services) lean.addService(def, impl);
    accept = (socket) => lean.handleConnection(socket);
    shutdown = { graceful: (cb) => lean.tryShutdown(cb), force: () => lean.forceShutdown() };
  } else {
    for (const [def, impl] of services) server.addService(def, impl);
    // Connections are accepted here, not by grpc-js: each goes through the authority shim
    // (authority-shim.ts) and is then injected into the gRPC server.
    const injector = server.createConnectionInjector(grpc.ServerCredentials.createInsecure());
    fastUnary = false;
    if (options.fastUnary !== false) {
      const [def, impl] = kv;
      const methods: FastMethod[] = FAST_KV_METHODS.map((name) => ({
        path: def[name]!.path,
        deserialize: def[name]!.requestDeserialize,
        serialize: def[name]!.responseSerialize,
        handler: impl[name] as FastMethod['handler'],
      }));
      fastUnary = attachFastUnary(server, methods, { maxReceiveBytes: MAX_RECEIVE_BYTES });
      if (!fastUnary) log.warn('coord: could not attach the lean KV call path to grpc-js; every call goes through grpc-js');
    }
    accept = (socket) => {
      examining.add(socket);
      socket.once('close', () => examining.delete(socket));
      acceptWithAuthorityShim(
        socket,
        (connection) => {
          examining.delete(socket);
          injector.injectConnection(connection);
        },
        log,
      );
    };
    shutdown = { graceful: (cb) => server.tryShutdown(() => cb()), force: () => server.forceShutdown() };
  }
  const onConnection = (socket: net.Socket) => {
    if (closingStarted) return void socket.destroy();
    accept(socket);
  };

  const addresses: ListenAddress[] = [];
  try {
    for (const a of options.listen) {
      // Every address the host name resolves to, on one port; like grpc-js's bindAsync, an
      // address that cannot be bound (say ::1 without IPv6) is skipped if another one can.
      const resolved = await lookup(a.host, { all: true });
      let port = a.port;
      let bound = 0;
      let firstError: unknown = null;
      for (const r of resolved) {
        const listener = net.createServer(onConnection);
        try {
          port = await listen(listener, r.address, port);
          listeners.push(listener);
          bound++;
        } catch (err) {
          firstError ??= err;
        }
      }
      if (bound === 0) throw firstError;
      addresses.push({ host: a.host, port });
    }
  } catch (err) {
    for (const l of listeners) l.close();
    shutdown.force();
    throw err;
  }

  // Status.version says etcd's version exactly (clients compare it as a semver); this line says
  // which server actually answers.
  log.info({ server: 'shoal', etcdVersion: COORD_VERSION, addresses }, 'coord: Shoal coordinator serving the etcd v3 API');

  let closing: Promise<void> | null = null;
  const close = () => {
    closing ??= new Promise<void>((resolve) => {
      closingStarted = true;
      for (const l of listeners) l.close();
      for (const socket of examining) socket.destroy();
      streams.endAll();
      const timer = setTimeout(() => {
        log.warn('coord: in-flight calls did not finish in time; cutting them');
        shutdown.force();
        resolve();
      }, options.shutdownGraceMs ?? 5000);
      shutdown.graceful(() => {
        clearTimeout(timer);
        resolve();
      });
    });
    return closing;
  };
  return { addresses, fastUnary, grpcServer, close };
}

function listen(listener: net.Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    listener.once('error', reject);
    listener.listen(port, host, () => {
      listener.removeListener('error', reject);
      resolve((listener.address() as net.AddressInfo).port);
    });
  });
}
