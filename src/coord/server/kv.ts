// etcdserverpb.KV: Range, Put, DeleteRange, Txn, Compact.
import type * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import {
  compactionFromWire,
  deleteRangeFromWire,
  putFromWire,
  rangeFromWire,
  txnFromWire,
} from '../node/index.js';
import type {
  CompactionRequest,
  DeleteRangeRequest,
  PutRequest,
  RangeRequest,
  RangeResponse,
  ResponseOp,
  TxnRequest,
  TxnResponse,
} from '../types.js';
import type { CoordBackend } from './backend.js';
import { serviceDefinition, type ServiceDef } from './codec.js';
import { unary } from './unary.js';

export function kvService(node: CoordBackend, log: Logger): [ServiceDef, grpc.UntypedServiceImplementation] {
  const def = serviceDefinition('etcdserverpb.KV', {
    Range: rangeFromWire,
    Put: putFromWire,
    DeleteRange: deleteRangeFromWire,
    Txn: txnFromWire,
    Compact: compactionFromWire,
  });

  const rangeOut = (r: RangeResponse, header: object = node.header(r.revision)) => ({
    header,
    kvs: r.kvs,
    more: r.more,
    count: r.count,
  });

  const txnOut = (t: TxnResponse): object => ({
    header: node.header(t.revision),
    succeeded: t.succeeded,
    responses: t.responses.map(opOut),
  });

  // etcd fills cluster, member and term only in the outermost header: the headers inside a
  // txn carry just the revision (0 for a nested txn's own).
  const opOut = (op: ResponseOp): object => {
    switch (op.response) {
      case 'responseRange':
        return { responseRange: rangeOut(op.responseRange, { revision: op.responseRange.revision }) };
      case 'responsePut':
        return { responsePut: { header: { revision: op.responsePut.revision }, prevKv: op.responsePut.prevKv } };
      case 'responseDeleteRange': {
        const d = op.responseDeleteRange;
        return { responseDeleteRange: { header: { revision: d.revision }, deleted: d.deleted, prevKvs: d.prevKvs } };
      }
      case 'responseTxn': {
        const t = op.responseTxn;
        return { responseTxn: { header: { revision: t.revision }, succeeded: t.succeeded, responses: t.responses.map(opOut) } };
      }
    }
  };

  const impl: grpc.UntypedServiceImplementation = {
    Range: unary(
      node,
      log,
      (req: RangeRequest) => {
        const r = node.range(req);
        return r instanceof Promise ? r.then((res) => rangeOut(res)) : rangeOut(r);
      },
      { learnerServes: (req) => req.serializable },
    ),
    Put: unary(node, log, async (req: PutRequest) => {
      const out = await node.propose({ type: 'put', req });
      if (out.type !== 'put') throw new Error(`put answered with ${out.type}`);
      return { header: node.header(out.res.revision), prevKv: out.res.prevKv };
    }),
    DeleteRange: unary(node, log, async (req: DeleteRangeRequest) => {
      const out = await node.propose({ type: 'deleteRange', req });
      if (out.type !== 'deleteRange') throw new Error(`deleteRange answered with ${out.type}`);
      const d = out.res;
      return { header: node.header(d.revision), deleted: d.deleted, prevKvs: d.prevKvs };
    }),
    Txn: unary(node, log, async (req: TxnRequest) => {
      const out = await node.propose({ type: 'txn', req });
      if (out.type !== 'txn') throw new Error(`txn answered with ${out.type}`);
      return txnOut(out.res);
    }),
    Compact: unary(node, log, async (req: CompactionRequest) => {
      const out = await node.propose({ type: 'compact', req });
      if (out.type !== 'compact') throw new Error(`compact answered with ${out.type}`);
      return { header: node.header(out.res.revision) };
    }),
  };
  return [def, impl];
}
