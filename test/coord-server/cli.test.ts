// `shoal coord` flags: etcd's names, validated with clear errors; clean shutdown on SIGTERM.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { etcdctl, startCoord, stopAll, tempDir } from './harness.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));

afterAll(stopAll);

function shoal(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { cwd: REPO, timeout: 20_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe('shoal coord flags', () => {
  it('validates the replication flags: --peer-dial, --initial-cluster-state, election timing', async () => {
    const cluster = ['--name', 'a', '--data-dir', join(tempDir(), 'd'), '--initial-advertise-peer-urls', 'http://127.0.0.1:12380',
      '--initial-cluster', 'a=http://127.0.0.1:12380,b=http://127.0.0.1:22380,c=http://127.0.0.1:32380'];
    const dial = await shoal(['coord', ...cluster, '--peer-dial', 'z=127.0.0.1:1']);
    expect(dial.code).toBe(2);
    expect(dial.stderr).toContain('--peer-dial: "z" is not a member of --initial-cluster');
    const badDial = await shoal(['coord', ...cluster, '--peer-dial', 'b']);
    expect(badDial.stderr).toContain('--peer-dial: "b" is not name=host:port');
    const timing = await shoal(['coord', ...cluster, '--heartbeat-interval', '100', '--election-timeout', '200']);
    expect(timing.stderr).toContain('--election-timeout: must be at least 5 times --heartbeat-interval');
    const join1 = await shoal(['coord', '--name', 'x', '--data-dir', join(tempDir(), 'd'), '--initial-cluster-state', 'existing']);
    expect(join1.code).toBe(2);
    expect(join1.stderr).toContain('--initial-cluster must list the running members to join');
    const help = await shoal(['coord', '--help']);
    expect(help.stdout).toContain('--peer-dial');
  });

  it('names the flag in errors', async () => {
    const bad = await shoal(['coord', '--listen-client-urls', 'localhost:2379']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--listen-client-urls: .*(scheme|URL)/);
    const missing = await shoal(['coord', '--name', 'x', '--initial-cluster', 'y=http://127.0.0.1:2380']);
    expect(missing.stderr).toContain('has no entry for this member\'s --name "x"');
    const state = await shoal(['coord', '--initial-cluster-state', 'maybe']);
    expect(state.stderr).toContain('--initial-cluster-state: "maybe" is neither new nor existing');
  });

  it('stops cleanly on SIGTERM (exit 0, log closed) and SIGINT', async () => {
    const dataDir = join(tempDir(), 'd');
    const a = await startCoord({ dataDir, args: ['--name', 'n1', '--advertise-client-urls', 'http://127.0.0.1:1'] });
    // The advertised URL, not the bound one, is what the member list shows.
    expect((await etcdctl(a.endpoint, ['member', 'list'])).stdout).toContain('http://127.0.0.1:1');
    expect(await a.stop('SIGTERM')).toBe(0);
    expect(a.logs.some((l) => l.includes('coord: log closed'))).toBe(true);
    const b = await startCoord({ dataDir, args: ['--name', 'n1'] });
    expect(await b.stop('SIGINT')).toBe(0);
    // A data dir belongs to one member.
    const other = await shoal(['coord', '--name', 'n2', '--data-dir', dataDir, '--listen-client-urls', 'http://127.0.0.1:0']);
    expect(other.code).toBe(1);
    expect(other.stderr).toContain('belongs to member \\"n1\\"');
  });
});
