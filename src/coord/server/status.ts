// Turning coordinator errors into gRPC statuses with etcd's codes and messages.
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { CoordError } from '../types.js';

export function toStatus(err: unknown, log: Logger): Partial<grpc.StatusObject> {
  if (err instanceof CoordError) return { code: grpc.status[err.code], details: err.message };
  // Anything else is a bug in the server, not the client's fault: say so, keep serving.
  log.error({ err }, 'coord: internal error serving a request');
  return { code: grpc.status.INTERNAL, details: `shoal: internal error: ${(err as Error)?.message ?? String(err)}` };
}
