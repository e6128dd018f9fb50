// Bidirectional-stream plumbing: the set of open streams (ended first at shutdown, since a
// server with open streams never finishes a graceful shutdown) and ending one with an error.
import type * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { toStatus } from './status.js';

export type Duplex = grpc.ServerDuplexStream<unknown, unknown>;
export type Writable = grpc.ServerWritableStream<unknown, unknown>;

export class OpenStreams {
  private readonly streams = new Set<Duplex | Writable>();

  add(call: Duplex | Writable, onClose: () => void): void {
    this.streams.add(call);
    let closed = false;
    const close = () => {
      if (closed) return;
      closed = true;
      this.streams.delete(call);
      onClose();
    };
    call.on('cancelled', close);
    call.on('close', close);
    call.on('finish', close);
    call.on('error', close);
  }

  /** Ends every open stream with OK; clients reconnect elsewhere or retry. */
  endAll(): void {
    for (const call of this.streams) {
      try {
        call.end();
      } catch {
        // Already torn down by the transport.
      }
    }
    this.streams.clear();
  }
}

export function failStream(call: Duplex | Writable, err: unknown, log: Logger): void {
  if (call.writableEnded || call.destroyed) return;
  call.emit('error', toStatus(err, log));
}
