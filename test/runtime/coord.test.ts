// Process level: a real `shoal coord`, a service process started with runFromEnv (ready line on
// stdout, SIGTERM → graceful stop, exit 0), and an in-process host finding it through discovery.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRegistry, type Registry } from '../../src/discovery/index.js';
import { defineService, startServices } from '../../src/index.js';
import { freePort, LOOPBACK } from '../support/ports.js';
import { spawnCoord, type CoordChild } from '../support/shoal-coord.js';
import { quietObservability } from './support/hosts.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '..', '..');

let coord: CoordChild;
let dir: string;
let endpoint: string;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'shoal-runtime-coord-'));
  const port = await freePort();
  endpoint = `http://${LOOPBACK}:${port}`;
  const logs: string[] = [];
  coord = spawnCoord(
    ['--name', 'n1', '--data-dir', path.join(dir, 'coord'), '--listen-client-urls', endpoint, '--advertise-client-urls', endpoint],
    logs,
    'coord',
    30_000,
  );
  await coord.ready;
});

afterAll(async () => {
  if (coord !== undefined && coord.child.exitCode === null) {
    coord.child.kill('SIGTERM');
    await coord.exited;
  }
  rmSync(dir, { recursive: true, force: true });
});

describe('runtime on a real coordinator', () => {
  it('a runFromEnv process and an in-process host find each other; SIGTERM stops it cleanly', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(HERE, 'fixtures', 'echo-main.ts')], {
      cwd: REPO,
      env: { ...process.env, SHOAL_COORD: `${LOOPBACK}:${new URL(endpoint).port}`, SHOAL_DATA_DIR: dir, SHOAL_LOG_LEVEL: 'warn', SHOAL_PORT: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)));
    let stderr = '';
    child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
    const readyLine = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ready line in 30 s; stderr:\n${stderr}`)), 30_000);
      let out = '';
      child.stdout!.on('data', (c: Buffer) => {
        out += c.toString();
        const line = out.split('\n').find((l) => l.startsWith('ready '));
        if (line !== undefined) {
          clearTimeout(timer);
          resolve(line);
        }
      });
      void exited.then((code) => reject(new Error(`service exited (${code}) before ready:\n${stderr}`)));
    });
    const [, childId, ...urls] = readyLine.split(' ');
    expect(childId).toMatch(/^echo-[0-9a-f]{8}$/);
    expect(urls[0]).toMatch(/^shoal\+tcp:\/\/127\.0\.0\.1:\d+$/);

    const registry: Registry = createRegistry({ endpoints: endpoint, logger: pino({ level: 'silent' }) });
    const view = await registry.watchView();
    try {
      expect(view.instances('echo').map((r) => r.id)).toEqual([childId]);
      const front = await startServices(
        [defineService({ name: 'front', version: '1.0.0', actions: { relay: { handler: (ctx) => ctx.call('echo.say', { hi: 1 }, { timeoutMs: 3_000 }) } } })],
        { view, registry, observability: quietObservability('front'), admin: false, drain: { graceMs: 10 } },
      );
      try {
        const answer = await front.call<{ said: unknown; by: string; budget: number }>('front.relay', undefined, { timeoutMs: 5_000 });
        expect(answer.said).toEqual({ hi: 1 });
        expect(answer.by).toBe(childId);
        expect(answer.budget).toBeLessThanOrEqual(3_000);
        // The child sees the in-process host too: its record is in the shared store.
        expect(view.instances('front').map((r) => r.id)).toEqual([front.instanceId]);
      } finally {
        await front.stop();
      }
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      // Deregistered on the way out, not left to lease expiry.
      const gone = await new Promise<boolean>((resolve) => {
        if (view.get(childId!) === undefined) return resolve(true);
        const timer = setTimeout(() => resolve(false), 2_000);
        const off = view.onChange((c) => {
          if (c.type === 'down' && c.instance.id === childId) {
            clearTimeout(timer);
            off();
            resolve(c.reason === 'deregistered');
          }
        });
      });
      expect(gone).toBe(true);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      await registry.close();
    }
  });
});
