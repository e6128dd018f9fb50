// The stateless checks the gRPC layer can run before proposing, so malformed requests are
// rejected without taking a log slot. The state machine runs them again on apply.
import type { Command } from './types.js';
import { ErrLeaseNotFound, ErrLeaseTtlTooLarge } from './errors.js';
import { MAX_LEASE_TTL } from './lease/table.js';
import { checkDeleteRequest, checkPutRequest, checkTxn } from './mvcc/validate.js';

export function validateCommand(cmd: Command, maxTxnOps?: number): void {
  switch (cmd.type) {
    case 'put':
      return checkPutRequest(cmd.req);
    case 'deleteRange':
      return checkDeleteRequest(cmd.req);
    case 'txn':
      return checkTxn(cmd.req, maxTxnOps);
    case 'leaseGrant':
      if (cmd.req.id === 0) throw ErrLeaseNotFound();
      if (cmd.req.ttl > MAX_LEASE_TTL) throw ErrLeaseTtlTooLarge();
      return;
    case 'compact':
    case 'leaseRevoke':
      return;
  }
}
