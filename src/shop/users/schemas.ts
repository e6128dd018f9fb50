// The users service's action params and results as zod schemas: the runtime validates params
// with them, the store parses its input with them, the gateway documents them (OpenAPI).
import { z } from 'zod';
import { BranchParamsSchema } from '../common/txn.js';

/** Largest single deposit: one million in currency units. */
export const MAX_DEPOSIT_CENTS = 100_000_000;
/** Largest single debit (an order's total). */
export const MAX_DEBIT_CENTS = 100_000_000;
/** Wallet ceiling (10^15 cents): far below 2^53, so sums of a few wallets stay exact in JS. */
export const MAX_WALLET_CENTS = 1_000_000_000_000_000;
/** hashPassword refuses more UTF-8 bytes than this after NFKC normalisation (auth's MAX_PASSWORD_BYTES). */
const MAX_PASSWORD_BYTES = 1024;

export const Role = z.enum(['user', 'admin']);
export type Role = z.infer<typeof Role>;

export const UserId = z.string().min(1).max(64);
/** Valid address, at most 254 characters (RFC 5321 path limit), stored lowercase. */
export const Email = z.email().max(254).toLowerCase();
export const Name = z.string().trim().min(1).max(100);
export const Address = z.string().max(300);

const phoneDigits = (s: string): number => s.replace(/[^0-9]/g, '').length;
/** E.164-ish: optional +, digits with spaces, dots, dashes or parentheses between; 4–15 digits. */
export const Phone = z
  .string()
  .max(32)
  .regex(/^\+?[0-9(][0-9 ().-]*[0-9]$/, 'phone number: digits, optional leading +, spaces, dots, dashes, parentheses')
  .refine((s) => phoneDigits(s) >= 4 && phoneDigits(s) <= 15, 'phone number: 4 to 15 digits');

const passwordFits = (s: string): boolean => Buffer.byteLength(s.normalize('NFKC'), 'utf8') <= MAX_PASSWORD_BYTES;
/** A new password: 8–256 characters. */
export const NewPassword = z.string().min(8).max(256).refine(passwordFits, 'password too long once encoded');
/** A password offered at login: any non-empty string the hasher accepts. */
export const OfferedPassword = z.string().min(1).max(MAX_PASSWORD_BYTES).refine(passwordFits, 'password too long once encoded');

export const User = z.object({
  id: z.string(),
  name: z.string(),
  email: z.string(),
  address: z.string(),
  phone: z.string(),
  /** Integer cents. */
  wallet: z.int().min(0).max(MAX_WALLET_CENTS),
  role: Role,
  createdAt: z.iso.datetime(),
});
export type User = z.infer<typeof User>;

export const AuthResult = z.object({ id: z.string(), email: z.string(), role: Role });
export type AuthResult = z.infer<typeof AuthResult>;

export const CreateUserParams = z.object({
  name: Name,
  email: Email,
  password: NewPassword,
  address: Address,
  phone: Phone,
});
export type CreateUserParams = z.input<typeof CreateUserParams>;

export const AuthenticateParams = z.object({
  // Only a length bound: a malformed address simply matches nobody, with the same error.
  email: z.string().min(1).max(254),
  password: OfferedPassword,
});
export type AuthenticateParams = z.input<typeof AuthenticateParams>;

export const GetUserParams = z.object({ id: UserId });
export type GetUserParams = z.input<typeof GetUserParams>;

export const DepositParams = z.object({
  id: UserId,
  /** Integer cents. */
  amount: z.int().min(1).max(MAX_DEPOSIT_CENTS),
  /** With it the deposit is applied at most once per (user, requestId). */
  requestId: z.string().min(1).max(128).optional(),
});
export type DepositParams = z.input<typeof DepositParams>;

/** The caller's key for one money change; a saga uses its branch id. */
export const RequestId = z.string().min(1).max(128);

export const DebitParams = z.object({
  id: UserId,
  /** Integer cents. */
  amount: z.int().min(1).max(MAX_DEBIT_CENTS),
  /** Required: the debit is applied at most once per (user, requestId), and refund names it. */
  requestId: RequestId,
});
export type DebitParams = z.input<typeof DebitParams>;

export const RefundParams = z.object({
  id: UserId,
  /** The requestId of the debit to undo. */
  requestId: RequestId,
});
export type RefundParams = z.input<typeof RefundParams>;

export const EnsureAdminParams = z.object({ email: Email, password: NewPassword, name: Name });
export type EnsureAdminParams = z.input<typeof EnsureAdminParams>;

/** A saga step's branch (gid, branch) plus what to debit: the debit's requestId is `${gid}/${branch}`. */
export const SagaDebitParams = z.object({ id: UserId, amount: z.int().min(1).max(MAX_DEBIT_CENTS) }).extend(BranchParamsSchema.shape);
export type SagaDebitParams = z.input<typeof SagaDebitParams>;
/** SagaDebitParams as parsed (what a handler's ctx.params holds). */
export type SagaDebitParsed = z.output<typeof SagaDebitParams>;

/** The compensation of a SagaDebit branch (an amount, if sent, is ignored: what the branch took is given back). */
export const SagaRefundParams = z.object({ id: UserId }).extend(BranchParamsSchema.shape);
export type SagaRefundParams = z.input<typeof SagaRefundParams>;

/** 2PC phase one: take amount from the wallet into a debit held until commit or abort. */
export const PrepareDebitParams = SagaDebitParams;
export type PrepareDebitParams = z.input<typeof PrepareDebitParams>;

/** 2PC phase two (commit or abort) of a prepared debit. */
export const FinishDebitParams = z.object({ id: UserId }).extend(BranchParamsSchema.shape);
export type FinishDebitParams = z.input<typeof FinishDebitParams>;

/** What a prepare, commit or abort did: `applied` false for a repeat or a no-op. */
export const DebitBranchResult = z.object({
  userId: z.string(),
  /** Cents this call moved (taken by prepare, given back by abort); 0 when it did nothing. */
  amount: z.int().min(0),
  applied: z.boolean(),
  wallet: z.int().min(0),
});
export type DebitBranchResult = z.infer<typeof DebitBranchResult>;
