// Unary handler plumbing shared by the services: refuse decode errors and calls during
// shutdown, turn results and errors into gRPC answers, never let an exception escape.
import type * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { CoordError } from '../types.js';
import type { CoordBackend } from './backend.js';
import { toStatus } from './status.js';

export type Handle<Req, Res> = (req: Req) => Res | Promise<Res>;

export function unary<Req, Res>(
  node: CoordBackend,
  log: Logger,
  handle: Handle<Req, Res>,
): grpc.handleUnaryCall<Req | CoordError, Res> {
  return (call, callback) => {
    const req = call.request;
    if (req instanceof CoordError) return callback(toStatus(req, log));
    const refused = node.refusal();
    if (refused !== null) return callback(toStatus(refused, log));
    let out: Res | Promise<Res>;
    try {
      out = handle(req);
    } catch (err) {
      return callback(toStatus(err, log));
    }
    if (out instanceof Promise) {
      out.then(
        (res) => callback(null, res),
        (err: unknown) => callback(toStatus(err, log)),
      );
    } else {
      callback(null, out);
    }
  };
}
