// The lean gRPC server: services registered as with grpc-js (the same service definitions and
// handler functions), connections handed in already accepted (the coordinator accepts its own
// sockets), HTTP/2 spoken by connection.ts.
import type * as net from 'node:net';
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { LeanCall, refuse, type MethodEntry } from './call.js';
import { H2Connection, type H2Stream, type HeaderList, type StreamHandler } from './connection.js';

export interface LeanServerOptions {
  /** The receive limit per message (grpc.max_receive_message_length). */
  maxReceiveBytes: number;
  /** Where a connection closed for a protocol error is told (debug level). */
  log?: Logger;
}

export class LeanGrpcServer {
  private readonly methods = new Map<string, MethodEntry>();
  private readonly connections = new Set<H2Connection>();
  /** Set once tryShutdown was called: the callbacks waiting for every connection to close. */
  private shuttingDown: Array<() => void> | null = null;
  private stopped = false;

  constructor(private readonly options: LeanServerOptions) {}

  addService(def: grpc.ServiceDefinition, impl: grpc.UntypedServiceImplementation): void {
    for (const [name, m] of Object.entries(def)) {
      const handler = impl[name];
      // As with grpc-js, a method without an implementation answers UNIMPLEMENTED.
      if (typeof handler !== 'function') continue;
      this.methods.set(m.path, {
        path: m.path,
        requestStream: m.requestStream,
        responseStream: m.responseStream,
        deserialize: m.requestDeserialize as (buf: Buffer) => unknown,
        serialize: m.responseSerialize as (value: unknown) => Buffer,
        handler: handler as MethodEntry['handler'],
      });
    }
  }

  /** Serves HTTP/2 on an accepted socket, which this server now owns. */
  handleConnection(socket: net.Socket): void {
    if (this.stopped || this.shuttingDown !== null) {
      socket.destroy();
      return;
    }
    const conn = new H2Connection(socket, {
      onStream: (stream, headers, end, oversized) => this.open(stream, headers, end, oversized),
      onProtocolError: (reason) => this.options.log?.debug({ reason, remote: socket.remoteAddress }, 'coord: closed a client connection for an HTTP/2 protocol error'),
      onClose: (c) => {
        this.connections.delete(c);
        this.checkDrained();
      },
    });
    this.connections.add(conn);
  }

  /** No new streams; calls back once every connection has finished its open streams and closed. */
  tryShutdown(cb: () => void): void {
    (this.shuttingDown ??= []).push(cb);
    for (const c of this.connections) c.goAway();
    this.checkDrained();
  }

  forceShutdown(): void {
    this.stopped = true;
    for (const c of [...this.connections]) c.destroy();
    this.connections.clear();
    this.checkDrained();
  }

  private checkDrained(): void {
    if (this.shuttingDown === null || this.connections.size > 0) return;
    for (const cb of this.shuttingDown.splice(0)) cb();
  }

  private open(stream: H2Stream, headers: HeaderList, end: boolean, oversized: boolean): StreamHandler {
    if (oversized) return refuse(stream, grpc.status.RESOURCE_EXHAUSTED, 'Header list is larger than the server accepts');
    let path = '';
    for (let i = 0; i < headers.length; i += 2) {
      if (headers[i] === ':path') {
        path = headers[i + 1]!;
        break;
      }
    }
    const method = this.methods.get(path);
    if (method === undefined) return refuse(stream, grpc.status.UNIMPLEMENTED, `The server does not implement the method ${path}`);
    const call = new LeanCall(stream, headers, method, this.options.maxReceiveBytes);
    // The stream's handler must be in place before the call can answer (open may answer at once).
    stream.handler = call;
    call.open(end);
    return call;
  }
}
