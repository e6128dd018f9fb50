// The gateway as a process (src/gateway/main.ts) on a real coordinator: it waits for the users
// service (with progress logs) to ensure the admin account, prints its listening line, serves,
// and drains on SIGTERM with exit code 0. Started before the users service on purpose.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, test } from 'vitest';
import type { CoordServer } from '../support/etcd-server.js';
import { freePort } from '../support/ports.js';
import { shoalCoord } from '../support/shoal-coord.js';

const ROOT = resolve(fileURLToPath(import.meta.url), '..', '..', '..');

interface Proc {
  child: ChildProcess;
  out: string;
  err: string;
  exited: Promise<number | string>;
  /** Resolves once `pattern` shows up in stdout or stderr; rejects after `boundMs` or on exit. */
  waitFor(pattern: RegExp, boundMs: number): Promise<RegExpMatchArray>;
}

function start(entry: string, env: Record<string, string>): Proc {
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, entry)], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const listeners = new Set<() => void>();
  const proc: Proc = {
    child,
    out: '',
    err: '',
    exited: new Promise((r) => child.once('exit', (code, signal) => r(code ?? signal ?? -1))),
    waitFor(pattern, boundMs) {
      return new Promise((resolvePattern, reject) => {
        const check = (): void => {
          const m = pattern.exec(proc.out) ?? pattern.exec(proc.err);
          if (m === null) return;
          done();
          resolvePattern(m);
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`${entry}: ${pattern} not seen in ${boundMs} ms\nstdout: ${proc.out.slice(-2000)}\nstderr: ${proc.err.slice(-3000)}`));
        }, boundMs);
        const done = (): void => {
          clearTimeout(timer);
          listeners.delete(check);
        };
        void proc.exited.then((code) => {
          if (!listeners.has(check)) return;
          done();
          reject(new Error(`${entry} exited (${code}) before ${pattern}\nstderr: ${proc.err.slice(-3000)}`));
        });
        listeners.add(check);
        check();
      });
    },
  };
  child.stdout!.setEncoding('utf8').on('data', (c: string) => ((proc.out += c), listeners.forEach((l) => l())));
  child.stderr!.setEncoding('utf8').on('data', (c: string) => ((proc.err += c), listeners.forEach((l) => l())));
  return proc;
}

let coord: CoordServer;
const procs: Proc[] = [];
const dir = mkdtempSync(join(tmpdir(), 'shoal-gw-proc-'));

beforeAll(async () => {
  coord = await shoalCoord.start();
}, 60_000);

afterAll(async () => {
  for (const p of procs) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
  await Promise.all(procs.map((p) => p.exited));
  await coord?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('main.ts: waits for users, ensures the admin, listens, serves, drains on SIGTERM', { timeout: 120_000 }, async () => {
  const coordEnv = coord.endpoints.map((e) => e.replace(/^http:\/\//, '')).join(',');
  const port = await freePort();
  const gateway = start('src/gateway/main.ts', {
    SHOAL_COORD: coordEnv,
    SHOAL_DATA_DIR: join(dir, 'gateway'),
    SHOAL_GATEWAY_PORT: String(port),
    SHOAL_HOST: '127.0.0.1',
    SHOAL_LOG_LEVEL: 'info',
    SHOAL_GATEWAY_ADMIN_WAIT_MS: '60000',
    SHOP_ADMIN_EMAIL: 'boss@shop.local',
    SHOP_ADMIN_PASSWORD: 'boss password 1',
  });
  procs.push(gateway);
  await gateway.waitFor(/waiting for the users service/, 60_000);
  expect(gateway.out).not.toMatch(/gateway listening/);

  const users = start('src/shop/users/main.ts', { SHOAL_COORD: coordEnv, SHOAL_DATA_DIR: join(dir, 'users'), SHOAL_PORT: '0', SHOAL_HOST: '127.0.0.1', SHOAL_LOG_LEVEL: 'warn' });
  procs.push(users);
  const [line] = await gateway.waitFor(/^gateway listening on http:\/\/127\.0\.0\.1:(\d+)$/m, 60_000);
  expect(line).toBe(`gateway listening on http://127.0.0.1:${port}`);
  expect(gateway.err).toMatch(/admin account ensured/);

  const base = `http://127.0.0.1:${port}`;
  const login = await fetch(`${base}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: 'boss@shop.local', password: 'boss password 1' }) });
  expect(login.status).toBe(200);
  const { access_token } = (await login.json()) as { access_token: string };
  const me = await fetch(`${base}/api/v1/users/me`, { headers: { authorization: `Bearer ${access_token}` } });
  expect(await me.json()).toMatchObject({ email: 'boss@shop.local', role: 'admin' });
  expect((await fetch(`${base}/readyz`)).status).toBe(200);
  const metrics = await (await fetch(`${base}/metrics`)).text();
  expect(metrics).toMatch(/shoal_http_requests_total\{[^}]*route="\/api\/v1\/users\/me"/);
  // No secrets in the request logs.
  expect(gateway.err).not.toContain('boss password 1');
  expect(gateway.err).not.toContain(access_token);

  gateway.child.kill('SIGTERM');
  expect(await gateway.exited).toBe(0);
  expect(gateway.err).toMatch(/gateway stopped/);
  users.child.kill('SIGTERM');
  await users.exited;
});
