// The log record codec round-trips every command exactly (property test), and refuses records
// that are not commands.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeCommand, encodeCommand } from '../../src/coord/node/index.js';
import type { Command, Compare, RangeRequest, RequestOp, TxnRequest } from '../../src/coord/types.js';

const EMPTY = Buffer.alloc(0);
const id = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER });
const rev = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER });
const buf = (min: number) => fc.uint8Array({ minLength: min, maxLength: 12 }).map((a) => (a.length === 0 ? EMPTY : Buffer.from(a)));

const range: fc.Arbitrary<RangeRequest> = fc.record({
  key: buf(1),
  rangeEnd: buf(0),
  limit: rev,
  revision: rev,
  sortOrder: fc.constantFrom('NONE', 'ASCEND', 'DESCEND'),
  sortTarget: fc.constantFrom('KEY', 'VERSION', 'CREATE', 'MOD', 'VALUE'),
  serializable: fc.boolean(),
  keysOnly: fc.boolean(),
  countOnly: fc.boolean(),
  minModRevision: rev,
  maxModRevision: rev,
  minCreateRevision: rev,
  maxCreateRevision: rev,
});

const compare: fc.Arbitrary<Compare> = fc
  .record({
    result: fc.constantFrom('EQUAL', 'GREATER', 'LESS', 'NOT_EQUAL'),
    target: fc.constantFrom('VERSION', 'CREATE', 'MOD', 'VALUE', 'LEASE'),
    key: buf(1),
    rangeEnd: buf(0),
    n: fc.integer({ min: -Number.MAX_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER }),
    value: buf(0),
  })
  .map(({ n, value, ...c }): Compare => {
    switch (c.target) {
      case 'VERSION':
        return { ...c, targetUnion: 'version', version: n };
      case 'CREATE':
        return { ...c, targetUnion: 'createRevision', createRevision: n };
      case 'MOD':
        return { ...c, targetUnion: 'modRevision', modRevision: n };
      case 'VALUE':
        return { ...c, targetUnion: 'value', value };
      case 'LEASE':
        return { ...c, targetUnion: 'lease', lease: n };
    }
  });

// Writes in one branch use distinct keys (etcd refuses duplicates), so keys carry their path.
function ops(path: string, depth: number): fc.Arbitrary<RequestOp[]> {
  const op = (i: number): fc.Arbitrary<RequestOp> => {
    const key = Buffer.from(`p${path}/${i}`);
    const choices: fc.Arbitrary<RequestOp>[] = [
      range.map((r) => ({ request: 'requestRange' as const, requestRange: r })),
      fc.record({ value: buf(0), lease: id, prevKv: fc.boolean() }).map((p) => ({
        request: 'requestPut' as const,
        requestPut: { key, ...p, ignoreValue: false, ignoreLease: false },
      })),
      fc.boolean().map((prevKv) => ({
        request: 'requestDeleteRange' as const,
        requestDeleteRange: { key: Buffer.from(`d${path}/${i}`), rangeEnd: EMPTY, prevKv },
      })),
    ];
    if (depth > 0) choices.push(txn(`${path}/${i}`, depth - 1).map((t) => ({ request: 'requestTxn' as const, requestTxn: t })));
    return fc.oneof(...choices);
  };
  return fc.integer({ min: 0, max: 4 }).chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => op(i))));
}

function txn(path: string, depth: number): fc.Arbitrary<TxnRequest> {
  return fc.record({
    compare: fc.array(compare, { maxLength: 3 }),
    success: ops(`${path}s`, depth),
    failure: ops(`${path}f`, depth),
  });
}

const command: fc.Arbitrary<Command> = fc.oneof(
  fc
    .record({ key: buf(1), value: buf(0), lease: id, prevKv: fc.boolean(), ignoreValue: fc.boolean(), ignoreLease: fc.boolean() })
    .map((req) => ({
      type: 'put' as const,
      req: { ...req, value: req.ignoreValue ? EMPTY : req.value, lease: req.ignoreLease ? 0 : req.lease },
    })),
  fc.record({ key: buf(1), rangeEnd: buf(0), prevKv: fc.boolean() }).map((req) => ({ type: 'deleteRange' as const, req })),
  txn('', 2).map((req) => ({ type: 'txn' as const, req })),
  fc.record({ revision: rev, physical: fc.boolean() }).map((req) => ({ type: 'compact' as const, req })),
  fc.record({ id, ttl: id }).map((req) => ({ type: 'leaseGrant' as const, req })),
  fc.record({ id }).map((req) => ({ type: 'leaseRevoke' as const, req })),
);

describe('command codec', () => {
  it('decode(encode(cmd)) equals cmd for every command', () => {
    fc.assert(
      fc.property(command, (cmd) => {
        expect(decodeCommand(encodeCommand(cmd))).toEqual(cmd);
      }),
      { numRuns: 500 },
    );
  });

  it('a put is encoded compactly (tag, length, then the etcd PutRequest bytes)', () => {
    const rec = encodeCommand({
      type: 'put',
      req: { key: Buffer.from('k'), value: Buffer.from('v'), lease: 0, prevKv: false, ignoreValue: false, ignoreLease: false },
    });
    expect(rec.length).toBeLessThan(24);
  });

  it('refuses records that hold no command', () => {
    expect(() => decodeCommand(Buffer.alloc(0))).toThrow(/no known command/);
    expect(() => decodeCommand(Buffer.from([0xff, 0xff]))).toThrow();
  });
});
