// An in-memory Caller with the users and goods actions' contract (params validated the way the
// instance side does, the same result shapes and error codes), so gateway tests run without a
// cluster. It records every call with its options, and can be told to fail the next call.
import { z } from 'zod';
import { ShoalError, hashPassword, verifyPassword } from '../../src/index.js';
import type { Caller, CallOptions } from '../../src/index.js';

const CHEAP = { params: { N: 2 ** 10, r: 8, p: 1 } };

export interface FakeUser {
  id: string;
  name: string;
  email: string;
  address: string;
  phone: string;
  wallet: number;
  role: string;
  createdAt: string;
  passwordHash: string;
}

export interface FakeGoods {
  id: string;
  name: string;
  price: number;
  stock: number;
  createdAt: string;
  updatedAt: string;
}

export interface RecordedCall {
  action: string;
  params: unknown;
  options: CallOptions;
}

const fail = (code: string, message: string, details?: Record<string, unknown>): ShoalError =>
  new ShoalError({ code, message, retryable: false, ...(details !== undefined ? { details } : {}) });

function parse<T extends z.ZodType>(schema: T, params: unknown): z.output<T> {
  const result = schema.safeParse(params);
  if (!result.success) throw fail('INVALID_ARGUMENT', 'invalid params', { issues: result.error.issues });
  return result.data;
}

const CreateUser = z.object({ name: z.string().min(1), email: z.string().min(3), password: z.string().min(1), address: z.string(), phone: z.string() });
const Id = z.object({ id: z.string().min(1) });

export class FakeShop implements Caller {
  readonly users = new Map<string, FakeUser>();
  readonly goods = new Map<string, FakeGoods>();
  readonly calls: RecordedCall[] = [];
  private readonly deposits = new Map<string, FakeUser>();
  private nextFailure: { action: string; error: ShoalError } | undefined;
  private seq = 0;

  /** The next call of `action` fails with `error` (as the pipeline would: UNAVAILABLE, DEADLINE_EXCEEDED...). */
  failNext(action: string, error: ShoalError): void {
    this.nextFailure = { action, error };
  }

  async call<T = unknown>(action: string, params?: unknown, options: CallOptions = {}): Promise<T> {
    this.calls.push({ action, params, options });
    if (this.nextFailure?.action === action) {
      const { error } = this.nextFailure;
      this.nextFailure = undefined;
      throw error;
    }
    return (await this.dispatch(action, params)) as T;
  }

  lastCall(action: string): RecordedCall | undefined {
    return this.calls.filter((c) => c.action === action).at(-1);
  }

  private id(prefix: string): string {
    return `${prefix}${String(++this.seq).padStart(6, '0')}`;
  }

  private async dispatch(action: string, params: unknown): Promise<unknown> {
    const now = new Date(Date.UTC(2026, 0, 1) + this.seq * 1000).toISOString();
    switch (action) {
      case 'users.create': {
        const p = parse(CreateUser, params);
        if ([...this.users.values()].some((u) => u.email === p.email.toLowerCase())) throw fail('EMAIL_TAKEN', 'email already registered');
        const user: FakeUser = {
          id: this.id('u'),
          name: p.name,
          email: p.email.toLowerCase(),
          address: p.address,
          phone: p.phone,
          wallet: 0,
          role: 'user',
          createdAt: now,
          passwordHash: await hashPassword(p.password, CHEAP),
        };
        this.users.set(user.id, user);
        // Deliberately returns the hash too: the gateway's result schema must strip it.
        return { ...user };
      }
      case 'users.authenticate': {
        const p = parse(z.object({ email: z.string(), password: z.string() }), params);
        const user = [...this.users.values()].find((u) => u.email === p.email.toLowerCase());
        if (user === undefined || !(await verifyPassword(p.password, user.passwordHash))) throw fail('INVALID_CREDENTIALS', 'invalid email or password');
        return { id: user.id, email: user.email, role: user.role };
      }
      case 'users.get': {
        const user = this.users.get(parse(Id, params).id);
        if (user === undefined) throw fail('NOT_FOUND', 'no such user');
        return { ...user };
      }
      case 'users.deposit': {
        const p = parse(z.object({ id: z.string(), amount: z.number().int().positive(), requestId: z.string().optional() }), params);
        const user = this.users.get(p.id);
        if (user === undefined) throw fail('NOT_FOUND', 'no such user');
        if (p.requestId !== undefined) {
          const done = this.deposits.get(`${p.id}/${p.requestId}`);
          if (done !== undefined) return { ...done };
        }
        user.wallet += p.amount;
        if (p.requestId !== undefined) this.deposits.set(`${p.id}/${p.requestId}`, { ...user });
        return { ...user };
      }
      case 'users.ensureAdmin': {
        const p = parse(z.object({ email: z.string(), password: z.string(), name: z.string() }), params);
        let user = [...this.users.values()].find((u) => u.email === p.email.toLowerCase());
        if (user === undefined) {
          user = { id: this.id('u'), name: p.name, email: p.email.toLowerCase(), address: '', phone: '', wallet: 0, role: 'admin', createdAt: now, passwordHash: '' };
          this.users.set(user.id, user);
        }
        user.role = 'admin';
        user.passwordHash = await hashPassword(p.password, CHEAP);
        return { ...user };
      }
      case 'goods.create': {
        const p = parse(z.object({ name: z.string().min(1), price: z.number().int().min(0), stock: z.number().int().min(0) }), params);
        const goods: FakeGoods = { id: this.id('g'), ...p, createdAt: now, updatedAt: now };
        this.goods.set(goods.id, goods);
        return { ...goods };
      }
      case 'goods.get': {
        const goods = this.goods.get(parse(Id, params).id);
        if (goods === undefined) throw fail('NOT_FOUND', 'no such goods');
        return { ...goods };
      }
      case 'goods.list': {
        const p = parse(z.object({ limit: z.number().int().min(1).max(100).optional(), cursor: z.string().optional() }), params);
        const all = [...this.goods.values()].sort((a, b) => a.id.localeCompare(b.id)).filter((g) => p.cursor === undefined || g.id > p.cursor);
        const items = all.slice(0, p.limit ?? 20);
        return { items, nextCursor: all.length > items.length ? items.at(-1)!.id : null };
      }
      case 'goods.update': {
        const p = parse(z.object({ id: z.string(), name: z.string().optional(), price: z.number().int().optional(), stock: z.number().int().optional() }), params);
        const goods = this.goods.get(p.id);
        if (goods === undefined) throw fail('NOT_FOUND', 'no such goods');
        Object.assign(goods, Object.fromEntries(Object.entries(p).filter(([k, v]) => k !== 'id' && v !== undefined)), { updatedAt: now });
        return { ...goods };
      }
      default:
        throw new ShoalError({ code: 'NO_ENDPOINT', message: `no instance serves ${action}`, retryable: true });
    }
  }
}
