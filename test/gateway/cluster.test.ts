// The gateway as a node:cluster of two workers (SHOAL_GATEWAY_WORKERS=2) on a real coordinator
// and users service: one ready line once both listen, connections served by both, a token issued
// through one worker verified (and, once revoked, refused) by the other, a SIGKILLed worker
// restarted while serving goes on, /metrics summed over the workers, and SIGTERM on the primary
// draining every worker to exit code 0. Bad worker counts fail at once with a clear error.
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { CoordServer } from '../support/etcd-server.js';
import { freePort } from '../support/ports.js';
import { shoalCoord } from '../support/shoal-coord.js';
import { killAll, start, type Proc } from './proc.js';

const ADMIN = { email: 'boss@shop.local', password: 'boss password 1' };

let coord: CoordServer;
let coordEnv: string;
const procs: Proc[] = [];
const dir = mkdtempSync(join(tmpdir(), 'shoal-gw-cluster-'));

beforeAll(async () => {
  coord = await shoalCoord.start();
  coordEnv = coord.endpoints.map((e) => e.replace(/^http:\/\//, '')).join(',');
}, 60_000);

afterAll(async () => {
  await killAll(procs);
  await coord?.stop();
  rmSync(dir, { recursive: true, force: true });
});

interface Answer {
  status: number;
  json: Record<string, unknown>;
  text: string;
}

/** One request on `agent` (an agent with one socket keeps talking to the same worker). */
function send(agent: http.Agent | false, port: number, method: string, path: string, options: { body?: unknown; token?: string } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const body = options.body === undefined ? undefined : JSON.stringify(options.body);
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        method,
        path,
        agent,
        headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...(options.token !== undefined ? { authorization: `Bearer ${options.token}` } : {}) },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (c: string) => (text += c));
        res.on('end', () => {
          let json: Record<string, unknown> = {};
          try {
            json = JSON.parse(text) as Record<string, unknown>;
          } catch {
            // not JSON (/metrics)
          }
          resolve({ status: res.statusCode ?? 0, json, text });
        });
      },
    );
    req.once('error', reject);
    req.end(body);
  });
}

/** The pid of the worker that answers a new connection. */
async function pidOfNewConnection(port: number): Promise<number> {
  const r = await send(false, port, 'GET', '/livez');
  expect(r.status).toBe(200);
  return r.json.pid as number;
}

/** A keep-alive connection pinned to one worker, and that worker's pid. */
async function pinned(port: number): Promise<{ agent: http.Agent; pid: number }> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const r = await send(agent, port, 'GET', '/livez');
  expect(r.status).toBe(200);
  return { agent, pid: r.json.pid as number };
}

/** Polls `check` until it holds: for effects that travel between processes with nothing to await. */
async function eventually(check: () => Promise<boolean>, boundMs: number, what: string): Promise<void> {
  const until = Date.now() + boundMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`not within ${boundMs} ms: ${what}`);
    await delay(25);
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Sum of one counter's samples whose labels match `labels`, in Prometheus text. */
function counter(text: string, name: string, labels: string): number {
  let sum = 0;
  for (const line of text.split('\n')) if (line.startsWith(`${name}{`) && line.includes(labels)) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  return sum;
}

describe('SHOAL_GATEWAY_WORKERS', () => {
  test.each(['0', 'two', '-1', '1.5', '65'])('"%s" is refused with a clear error and a non-zero exit', { timeout: 60_000 }, async (value) => {
    const p = start('src/gateway/main.ts', { SHOAL_COORD: '127.0.0.1:1', SHOAL_GATEWAY_WORKERS: value, SHOAL_GATEWAY_PORT: '0' });
    procs.push(p);
    expect(await p.exited).toBe(1);
    expect(p.err).toContain(`SHOAL_GATEWAY_WORKERS: expected an integer from 1 to 64 or "auto", got "${value}"`);
    expect(p.out).toBe('');
  });

  test('more than one worker needs a data dir (shared keys and refresh tokens)', { timeout: 60_000 }, async () => {
    const p = start('src/gateway/main.ts', { SHOAL_COORD: '127.0.0.1:1', SHOAL_GATEWAY_WORKERS: '2', SHOAL_GATEWAY_PORT: '0', SHOAL_DATA_DIR: '' });
    procs.push(p);
    expect(await p.exited).toBe(1);
    expect(p.err).toMatch(/SHOAL_GATEWAY_WORKERS > 1 needs SHOAL_DATA_DIR/);
  });
});

test('two workers: both serve, share tokens and revocations, one is restarted after SIGKILL, SIGTERM drains all', { timeout: 180_000 }, async () => {
  const users = start('src/shop/users/main.ts', { SHOAL_COORD: coordEnv, SHOAL_DATA_DIR: join(dir, 'users'), SHOAL_PORT: '0', SHOAL_HOST: '127.0.0.1', SHOAL_LOG_LEVEL: 'warn' });
  procs.push(users);
  await users.waitFor(/^ready \S+ /m, 60_000);
  const port = await freePort();
  const gateway = start('src/gateway/main.ts', {
    SHOAL_COORD: coordEnv,
    SHOAL_DATA_DIR: join(dir, 'gateway'),
    SHOAL_GATEWAY_PORT: String(port),
    SHOAL_HOST: '127.0.0.1',
    SHOAL_LOG_LEVEL: 'info',
    SHOAL_GATEWAY_WORKERS: '2',
    SHOP_ADMIN_EMAIL: ADMIN.email,
    SHOP_ADMIN_PASSWORD: ADMIN.password,
  });
  procs.push(gateway);
  await gateway.waitFor(/^gateway listening on http:\/\/127\.0\.0\.1:(\d+)$/m, 90_000);
  expect(gateway.out).toBe(`gateway listening on http://127.0.0.1:${port}\n`);

  // Connections are dealt round-robin: a few new ones reach both workers.
  const seen = new Set<number>();
  for (let i = 0; i < 20 && seen.size < 2; i++) seen.add(await pidOfNewConnection(port));
  expect(seen.size).toBe(2);
  const a = await pinned(port);
  let b = await pinned(port);
  for (let i = 0; i < 20 && b.pid === a.pid; i++) {
    b.agent.destroy();
    b = await pinned(port);
  }
  expect(b.pid).not.toBe(a.pid);
  expect([...seen].sort()).toEqual([a.pid, b.pid].sort());
  expect(gateway.child.pid).not.toBe(a.pid);

  // A token issued by worker A verifies on worker B (one key file for both).
  const login = await send(a.agent, port, 'POST', '/api/v1/auth/login', { body: ADMIN });
  expect(login.status, login.text).toBe(200);
  const token = login.json.access_token as string;
  const meOnB = await send(b.agent, port, 'GET', '/api/v1/users/me', { token });
  expect(meOnB.status, meOnB.text).toBe(200);
  expect(meOnB.json).toMatchObject({ email: ADMIN.email, role: 'admin' });
  expect((await send(b.agent, port, 'GET', '/livez')).json.pid).toBe(b.pid);

  // /metrics counts the requests of both workers, whichever answers the scrape.
  const readyz = (text: string): number => counter(text, 'shoal_http_requests_total', 'route="/readyz"');
  const before = readyz((await send(a.agent, port, 'GET', '/metrics')).text);
  for (let i = 0; i < 3; i++) expect((await send(a.agent, port, 'GET', '/readyz')).status).toBe(200);
  for (let i = 0; i < 2; i++) expect((await send(b.agent, port, 'GET', '/readyz')).status).toBe(200);
  const scrape = await send(b.agent, port, 'GET', '/metrics');
  expect(scrape.status).toBe(200);
  expect(readyz(scrape.text) - before).toBe(5);

  // Revoked through A (a second session's token): B refuses it once the primary relayed it.
  const second = await send(a.agent, port, 'POST', '/api/v1/auth/login', { body: ADMIN });
  const revoked = second.json.access_token as string;
  expect((await send(b.agent, port, 'GET', '/api/v1/users/me', { token: revoked })).status).toBe(200); // now in B's cache
  expect((await send(a.agent, port, 'POST', '/oauth2/revoke', { body: { token: revoked } })).status).toBe(200);
  expect((await send(a.agent, port, 'GET', '/api/v1/users/me', { token: revoked })).status).toBe(401);
  await eventually(async () => (await send(b.agent, port, 'GET', '/api/v1/users/me', { token: revoked })).status === 401, 10_000, 'worker B refuses the token revoked on A');

  // SIGKILL worker B: the primary restarts it; serving goes on meanwhile.
  b.agent.destroy();
  process.kill(b.pid, 'SIGKILL'); // a child of the gateway this test started
  await gateway.waitFor(new RegExp(`worker ${b.pid} exited with signal SIGKILL; restarting it in \\d+ ms`), 30_000);
  for (let i = 0; i < 5; i++) expect((await send(false, port, 'GET', '/api/v1/users/me', { token })).status).toBe(200);
  let restarted: number | undefined;
  await eventually(
    async () => {
      const pid = await pidOfNewConnection(port);
      if (pid !== a.pid) restarted = pid;
      return restarted !== undefined;
    },
    60_000,
    'a restarted worker answers',
  );
  expect(restarted).not.toBe(b.pid);
  expect(alive(b.pid)).toBe(false);
  // The new worker knows the old revocation (the primary replays it) and verifies the live token.
  const c = await pinned(port);
  let onNew = c;
  for (let i = 0; i < 20 && onNew.pid !== restarted; i++) {
    onNew.agent.destroy();
    onNew = await pinned(port);
  }
  expect(onNew.pid).toBe(restarted);
  expect((await send(onNew.agent, port, 'GET', '/api/v1/users/me', { token })).status).toBe(200);
  expect((await send(onNew.agent, port, 'GET', '/api/v1/users/me', { token: revoked })).status).toBe(401);
  expect(gateway.out).toBe(`gateway listening on http://127.0.0.1:${port}\n`); // still the one ready line
  a.agent.destroy();
  onNew.agent.destroy();

  // SIGTERM on the primary: every worker drains and exits cleanly, then the primary exits 0.
  gateway.child.kill('SIGTERM');
  expect(await gateway.exited).toBe(0);
  const stoppedPids = [...gateway.err.matchAll(/"instanceId":"gateway-(\d+)"[^\n]*"msg":"gateway stopped"/g)].map((m) => Number(m[1]));
  expect(stoppedPids.sort()).toEqual([a.pid, restarted!].sort());
  expect(alive(a.pid)).toBe(false);
  expect(alive(restarted!)).toBe(false);
  expect(gateway.err).not.toMatch(/while stopping/);

  users.child.kill('SIGTERM');
  await users.exited;
});
