// What every branch call carries (BranchParams) and the error a participant answers for a hanging
// action.
import { z } from 'zod';
import { ShoalError } from '../../errors/index.js';
import type { BranchParams } from '../types.js';

const ID = /^[A-Za-z0-9_.:-]{1,128}$/;

/** Merge into a participant action's params schema: `MySchema.extend(BranchParamsSchema.shape)`. */
export const BranchParamsSchema = z.object({
  gid: z.string().regex(ID, 'gid must match [A-Za-z0-9_.:-]{1,128}'),
  branch: z.string().regex(ID, 'branch must match [A-Za-z0-9_.:-]{1,128}'),
});

export function isValidTxnId(value: unknown): value is string {
  return typeof value === 'string' && ID.test(value);
}

/** Throws INVALID_ARGUMENT unless params carry a well-formed gid and branch. */
export function assertBranchParams(params: unknown): asserts params is BranchParams {
  const p = (typeof params === 'object' && params !== null ? params : {}) as Record<string, unknown>;
  for (const field of ['gid', 'branch'] as const) {
    if (!isValidTxnId(p[field])) {
      throw new ShoalError({
        code: 'INVALID_ARGUMENT',
        message: `${field} must match [A-Za-z0-9_.:-]{1,128}`,
        retryable: false,
        details: { field },
      });
    }
  }
}

export const BarrierErrorCode = {
  /** An action arrived after its compensation (or a prepare after its abort): it never runs. */
  BRANCH_COMPENSATED: 'BRANCH_COMPENSATED',
} as const;

export const BRANCH_COMPENSATED = BarrierErrorCode.BRANCH_COMPENSATED;

/** The answer to a `hanging` barrier outcome: final, not retryable. */
export function branchCompensatedError(p: BranchParams): ShoalError {
  return new ShoalError({
    code: BRANCH_COMPENSATED,
    message: `branch ${p.branch} of ${p.gid} was already compensated`,
    retryable: false,
    details: { gid: p.gid, branch: p.branch },
  });
}
