// Request builders with the defaults @grpc/proto-loader fills in (defaults: true).
import {
  type Command,
  type CommandResult,
  type Compare,
  CoordError,
  type CoordStateMachine,
  type DeleteRangeRequest,
  type PutRequest,
  type RangeRequest,
  rangeRequest,
  type RequestOp,
  type TxnRequest,
} from '../../src/coord/index.js';
import { expect } from 'vitest';

export const b = (s: string): Buffer => Buffer.from(s, 'latin1');
export const s = (buf: Buffer): string => buf.toString('latin1');

export function rangeReq(key: string, more: Partial<Omit<RangeRequest, 'key' | 'rangeEnd'>> & { end?: string } = {}): RangeRequest {
  const { end, ...rest } = more;
  return rangeRequest(b(key), { rangeEnd: b(end ?? ''), ...rest });
}

export function putReq(key: string, value: string, more: Partial<Omit<PutRequest, 'key' | 'value'>> = {}): PutRequest {
  return { key: b(key), value: b(value), lease: 0, prevKv: false, ignoreValue: false, ignoreLease: false, ...more };
}

export function delReq(key: string, end = '', prevKv = false): DeleteRangeRequest {
  return { key: b(key), rangeEnd: b(end), prevKv };
}

export const put = (key: string, value: string, more: Partial<PutRequest> = {}): Command => ({
  type: 'put',
  req: putReq(key, value, more),
});
export const del = (key: string, end = '', prevKv = false): Command => ({ type: 'deleteRange', req: delReq(key, end, prevKv) });
export const compact = (revision: number): Command => ({ type: 'compact', req: { revision, physical: false } });
export const grant = (id: number, ttl: number): Command => ({ type: 'leaseGrant', req: { id, ttl } });
export const revoke = (id: number): Command => ({ type: 'leaseRevoke', req: { id } });
export const txn = (req: Partial<TxnRequest>): Command => ({
  type: 'txn',
  req: { compare: [], success: [], failure: [], ...req },
});

export const opPut = (key: string, value: string, more: Partial<PutRequest> = {}): RequestOp => ({
  request: 'requestPut',
  requestPut: putReq(key, value, more),
});
export const opDel = (key: string, end = '', prevKv = false): RequestOp => ({
  request: 'requestDeleteRange',
  requestDeleteRange: delReq(key, end, prevKv),
});
export const opRange = (key: string, more: Parameters<typeof rangeReq>[1] = {}): RequestOp => ({
  request: 'requestRange',
  requestRange: rangeReq(key, more),
});
export const opTxn = (req: Partial<TxnRequest>): RequestOp => ({
  request: 'requestTxn',
  requestTxn: { compare: [], success: [], failure: [], ...req },
});

type Target = Compare['target'];
const FIELD = { VERSION: 'version', CREATE: 'createRevision', MOD: 'modRevision', VALUE: 'value', LEASE: 'lease' } as const;

export function cmp(key: string, target: Target, result: Compare['result'], operand: number | string, end = ''): Compare {
  const field = FIELD[target];
  return {
    key: b(key),
    rangeEnd: b(end),
    target,
    result,
    targetUnion: field,
    version: 0,
    createRevision: 0,
    modRevision: 0,
    value: Buffer.alloc(0),
    lease: 0,
    [field]: typeof operand === 'string' ? b(operand) : operand,
  };
}

/** A state machine driver that numbers log entries. */
export class Log {
  index = 0;
  constructor(readonly sm: CoordStateMachine) {}
  apply(cmd: Command): CommandResult {
    return this.sm.apply(cmd, ++this.index);
  }
  /** Applies a command expected to fail; returns the error. */
  fail(cmd: Command): CoordError {
    try {
      this.sm.apply(cmd, ++this.index);
    } catch (e) {
      expect(e).toBeInstanceOf(CoordError);
      return e as CoordError;
    }
    throw new Error('expected the command to fail');
  }
}

export function expectCoordError(fn: () => unknown, code: CoordError['code'], message: string): void {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(CoordError);
  expect((caught as CoordError).code).toBe(code);
  expect((caught as CoordError).message).toBe(message);
}

export const keysOf = (kvs: { key: Buffer }[]): string[] => kvs.map((kv) => s(kv.key));
