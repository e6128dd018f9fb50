// Fixtures for the gateway tests: a gateway over the in-memory shop, a fake clock, and helpers
// to sign up, log in and call with a token.
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { expect } from 'vitest';
import { createGateway, type GatewayOptions } from '../../src/gateway/index.js';
import { FakeShop } from './fake-shop.js';

export const ISSUER = 'https://gateway.shoal.test';
export const AUDIENCE = 'shoal-shop-api';
export const ADMIN = { email: 'admin@shop.local', password: 'admin-password-1', name: 'Admin' };

export class FakeClock {
  constructor(public ms = Date.UTC(2026, 5, 1, 12, 0, 0)) {}
  readonly now = (): number => this.ms;
  advanceSeconds(s: number): void {
    this.ms += s * 1000;
  }
}

export interface Harness {
  app: FastifyInstance;
  shop: FakeShop;
  clock: FakeClock;
  signUp(email?: string, password?: string): Promise<{ id: string; email: string; password: string }>;
  login(email: string, password: string): Promise<{ access_token: string; refresh_token: string; expires_in: number }>;
  userToken(): Promise<string>;
  adminToken(): Promise<string>;
}

let counter = 0;

export async function harness(overrides: Partial<GatewayOptions> = {}): Promise<Harness> {
  const shop = new FakeShop();
  const clock = new FakeClock();
  const app = await createGateway({ caller: shop, issuer: ISSUER, audience: AUDIENCE, now: clock.now, logger: false, ...overrides });
  await app.ready();
  await shop.call('users.ensureAdmin', ADMIN);

  const h: Harness = {
    app,
    shop,
    clock,
    async signUp(email = `user${++counter}@example.com`, password = 'correct horse battery') {
      const res = await app.inject({ method: 'POST', url: '/api/v1/users', payload: { name: 'Ann', email, password, address: '1 Main St', phone: '+1 555 0100' } });
      expect(res.statusCode, res.body).toBe(201);
      return { id: res.json().id as string, email, password };
    },
    async login(email, password) {
      const res = await app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email, password } });
      expect(res.statusCode, res.body).toBe(200);
      return res.json();
    },
    async userToken() {
      const user = await h.signUp();
      return (await h.login(user.email, user.password)).access_token;
    },
    async adminToken() {
      return (await h.login(ADMIN.email, ADMIN.password)).access_token;
    },
  };
  return h;
}

export const bearer = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` });

/** Every error answer outside /oauth2: `{ error: { code, message, details? } }` and nothing else. */
export function expectErrorShape(res: LightMyRequestResponse, status?: number): { code: string; message: string; details?: unknown } {
  if (status !== undefined) expect(res.statusCode, res.body).toBe(status);
  expect(res.headers['content-type']).toMatch(/^application\/json/);
  const body = res.json() as { error: { code: string; message: string; details?: unknown } };
  expect(Object.keys(body)).toEqual(['error']);
  expect(typeof body.error.code).toBe('string');
  expect(typeof body.error.message).toBe('string');
  expect(Object.keys(body.error).every((k) => ['code', 'message', 'details'].includes(k))).toBe(true);
  expect(res.body).not.toMatch(/\n\s+at /); // no stack trace
  return body.error;
}
