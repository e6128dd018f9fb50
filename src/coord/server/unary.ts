// Unary handler plumbing shared by the services: refuse decode errors and calls during
// shutdown, turn results and errors into gRPC answers, never let an exception escape.
import type * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { ErrNotSupportedForLearner } from '../errors.js';
import { CoordError } from '../types.js';
import type { CoordBackend } from './backend.js';
import { toStatus } from './status.js';

export type Handle<Req, Res> = (req: Req) => Res | Promise<Res>;

export interface UnaryOptions<Req> {
  /** Whether a learner serves this request (etcd 3.4: only Status and serializable Range). */
  learnerServes?: (req: Req) => boolean;
}

/**
 * Why a call is refused before its handler runs, as etcd's interceptors refuse it (after the
 * request decoded): the member is stopping or removed, or it is a learner.
 */
export function refusalFor(node: CoordBackend, learnerServes = false): CoordError | null {
  const refused = node.refusal();
  if (refused !== null) return refused;
  if (!learnerServes && node.isLearner) return ErrNotSupportedForLearner();
  return null;
}

/** The refusal a stream gets when it opens (etcd: every stream but Snapshot, on a learner). */
export function streamRefusal(node: CoordBackend): CoordError | null {
  return node.isLearner ? ErrNotSupportedForLearner() : null;
}

export function unary<Req, Res>(
  node: CoordBackend,
  log: Logger,
  handle: Handle<Req, Res>,
  options: UnaryOptions<Req> = {},
): grpc.handleUnaryCall<Req | CoordError, Res> {
  return (call, callback) => {
    const req = call.request;
    if (req instanceof CoordError) return callback(toStatus(req, log));
    const refused = refusalFor(node, options.learnerServes?.(req));
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
