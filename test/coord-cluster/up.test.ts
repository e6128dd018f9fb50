// `shoal up` and `shoal status --json` end to end: a supervised three-coordinator cluster in a
// temp data dir, its status, a clean stop on SIGINT (exit 0, every child gone), and a restart of
// the same data dir that finds the data again.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Etcd3 } from 'etcd3';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../support/ports.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const dataDir = join(mkdtempSync(join(tmpdir(), 'shoal-up-')), 'data');
const started: ChildProcess[] = [];

interface Up {
  child: ChildProcess;
  out: string[];
  exited: Promise<number | string>;
}

afterAll(() => {
  for (const c of started) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  rmSync(join(dataDir, '..'), { recursive: true, force: true });
});

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/** A --port whose derived coordinator ports (port+10 .. port+15) are free now. */
async function gatewayPort(): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const base = await freePort();
    if (base + 15 > 65_000) continue;
    const ports = Array.from({ length: 6 }, (_, i) => base + 10 + i);
    if ((await Promise.all(ports.map(bindable))).every(Boolean)) return base;
  }
  throw new Error('no free block of ports for shoal up');
}

/** Starts `shoal up`; resolves once it printed the leader line. */
function up(port: number): Promise<Up> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'up', '--data-dir', dataDir, '--port', String(port)], {
    cwd: REPO,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  started.push(child);
  const out: string[] = [];
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`shoal up not ready:\n${out.join('')}`)), 45_000);
    const onData = (chunk: Buffer): void => {
      out.push(chunk.toString());
      if (/shoal up: leader: coord\d/.test(out.join(''))) {
        clearTimeout(timer);
        resolve({ child, out, exited });
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`shoal up exited (${code}):\n${out.join('')}`));
    });
  });
}

function status(): Promise<{ code: number; json: { coordinators: { name: string; id: string; url: string; leader: boolean; healthy: boolean; raftTerm: number; raftIndex: number }[]; instances: unknown[] } }> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'status', '--data-dir', dataDir, '--json'], { cwd: REPO, timeout: 20_000 }, (err, stdout) => {
      try {
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, json: JSON.parse(stdout) });
      } catch (e) {
        reject(new Error(`shoal status printed no JSON (${String(e)}): ${stdout}`));
      }
    });
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function childPids(out: string[]): number[] {
  return [...out.join('').matchAll(/coord\d\s+http:\S+\s+pid (\d+)/g)].map((m) => Number(m[1]));
}

describe('shoal up / shoal status', () => {
  it('starts three coordinators, reports them healthy with one leader, stops all on SIGINT, restarts from the data dir', async () => {
    const port = await gatewayPort();
    const first = await up(port);
    const s = await status();
    expect(s.code).toBe(0);
    expect(s.json.instances).toEqual([]);
    expect(s.json.coordinators.map((c) => c.name)).toEqual(['coord1', 'coord2', 'coord3']);
    expect(s.json.coordinators.every((c) => c.healthy && c.raftTerm > 0 && c.raftIndex > 0 && /^[0-9a-f]+$/.test(c.id))).toBe(true);
    expect(s.json.coordinators.filter((c) => c.leader)).toHaveLength(1);

    const etcd = new Etcd3({ hosts: s.json.coordinators.map((c) => c.url) });
    try {
      await etcd.put('up/key').value('kept');
    } finally {
      etcd.close();
    }

    const pids = childPids(first.out);
    expect(pids).toHaveLength(3);
    first.child.kill('SIGINT');
    expect(await first.exited).toBe(0);
    expect(pids.filter(alive)).toEqual([]);

    // The same data dir: the same cluster, with its data.
    const second = await up(port);
    expect(second.out.join('')).toContain('restarting the cluster');
    const again = new Etcd3({ hosts: s.json.coordinators.map((c) => c.url) });
    try {
      expect(await again.get('up/key').string()).toBe('kept');
    } finally {
      again.close();
    }
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
    expect(childPids(second.out).filter(alive)).toEqual([]);
  });
});
