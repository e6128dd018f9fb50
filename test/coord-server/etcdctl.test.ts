// etcdctl 3.4 (ETCDCTL_API=3) against a real `shoal coord`, unchanged.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { etcdctl, startCoord, stopAll, type CoordProcess } from './harness.js';

let coord: CoordProcess;
const ctl = (args: string[], input?: string) => etcdctl(coord.endpoint, args, input);

beforeAll(async () => {
  coord = await startCoord({ args: ['--name', 'm1'] });
});

afterAll(stopAll);

describe('etcdctl', () => {
  it('put, get (json header), get --prefix, del', async () => {
    expect((await ctl(['put', 'ctl/a', 'hello'])).stdout.trim()).toBe('OK');
    expect((await ctl(['put', 'ctl/b', 'world'])).stdout.trim()).toBe('OK');
    const json = JSON.parse((await ctl(['get', 'ctl/a', '-w', 'json'])).stdout) as {
      header: { cluster_id: number; member_id: number; revision: number; raft_term: number };
      kvs: { key: string; value: string; version: number }[];
    };
    expect(Buffer.from(json.kvs[0].value, 'base64').toString()).toBe('hello');
    expect(json.header.member_id).toBeGreaterThan(0);
    expect(json.header.cluster_id).toBeGreaterThan(0);
    expect(json.header.raft_term).toBe(1);
    expect((await ctl(['get', 'ctl/', '--prefix', '--keys-only'])).stdout.split('\n').filter(Boolean)).toEqual(['ctl/a', 'ctl/b']);
    expect((await ctl(['del', 'ctl/', '--prefix'])).stdout.trim()).toBe('2');
    expect((await ctl(['get', 'ctl/a'])).stdout).toBe('');
  });

  it('txn in interactive mode', async () => {
    await ctl(['put', 'ctl/t', '1']);
    const out = await ctl(['txn'], 'value("ctl/t") = "1"\n\nput ctl/t 2\n\nput ctl/t 3\n\n');
    expect(out.stdout.split('\n')[0]).toBe('SUCCESS');
    expect((await ctl(['get', 'ctl/t', '--print-value-only'])).stdout.trim()).toBe('2');
  });

  it('endpoint health, endpoint status, member list', async () => {
    const health = await ctl(['endpoint', 'health']);
    expect(health.code).toBe(0);
    expect(health.stdout + health.stderr).toMatch(/is healthy/);

    const status = JSON.parse((await ctl(['endpoint', 'status', '-w', 'json'])).stdout) as {
      Status: { header: { member_id: number }; version: string; leader: number; raftIndex: number; raftTerm: number; dbSize: number };
    }[];
    // Exactly etcd's version: a pre-release suffix would sort below it in clients' semver checks.
    expect(status[0].Status.version).toBe('3.4.23');
    expect(status[0].Status.leader).toBe(status[0].Status.header.member_id);
    expect(status[0].Status.raftIndex).toBeGreaterThan(0);

    const members = await ctl(['member', 'list']);
    expect(members.stdout).toContain(', started, m1, http://localhost:2380, http://' + coord.endpoint);
  });

  it('lease grant, put --lease, timetolive --keys, keep-alive --once, revoke', async () => {
    const grant = (await ctl(['lease', 'grant', '60'])).stdout;
    const id = /lease ([0-9a-f]+) granted with TTL\(60s\)/.exec(grant)?.[1];
    expect(id).toBeDefined();
    expect((await ctl(['put', 'ctl/leased', 'v', `--lease=${id}`])).stdout.trim()).toBe('OK');
    expect((await ctl(['lease', 'timetolive', id!, '--keys'])).stdout).toMatch(/attached keys\(\[ctl\/leased\]\)/);
    expect((await ctl(['lease', 'keep-alive', '--once', id!])).stdout).toMatch(/keepalived with TTL\(60\)/);
    expect((await ctl(['lease', 'list'])).stdout).toContain(id);
    expect((await ctl(['lease', 'revoke', id!])).stdout).toMatch(/revoked/);
    expect((await ctl(['get', 'ctl/leased'])).stdout).toBe('');
    const bad = await ctl(['lease', 'revoke', id!]);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('etcdserver: requested lease not found');
  });

  it('watch --rev replays history; compaction makes it fail', async () => {
    const first = JSON.parse((await ctl(['put', 'ctl/w', 'one', '-w', 'json'])).stdout) as { header: { revision: number } };
    await ctl(['put', 'ctl/w', 'two']);
    const rev = first.header.revision;
    // `watch` never ends by itself; a bounded timeout ends it after the replay.
    const replay = await etcdctlWatch(['watch', 'ctl/w', `--rev=${rev}`]);
    expect(replay).toContain('PUT\nctl/w\none\nPUT\nctl/w\ntwo');

    const last = JSON.parse((await ctl(['put', 'ctl/w', 'three', '-w', 'json'])).stdout) as { header: { revision: number } };
    expect((await ctl(['compact', String(last.header.revision)])).stdout).toContain(`compacted revision ${last.header.revision}`);
    const old = await ctl(['get', 'ctl/w', `--rev=${rev}`]);
    expect(old.stderr).toContain('etcdserver: mvcc: required revision has been compacted');
    const watchOld = await etcdctlWatch(['watch', 'ctl/w', `--rev=${rev}`]);
    expect(watchOld).toMatch(/required revision has been compacted/);
  });

  it('lock and elect (clientv3 concurrency recipes)', async () => {
    const lock = await ctl(['lock', 'ctl-lock', 'echo', 'locked']);
    expect(lock.stdout.trim()).toBe('locked');
    // The candidate leads (nobody else campaigns) and stays until killed; an observer
    // (`elect -l`, which never ends by itself) sees its proclamation.
    const candidate = etcdctlWatch(['elect', 'ctl-election', 'candidate-1'], 3000);
    const observed = await etcdctlWatch(['elect', '-l', 'ctl-election'], 2000);
    expect(observed).toContain('candidate-1');
    expect(await candidate).toContain('candidate-1');
  });
});

/** Runs a never-ending etcdctl command (watch, elect) for a bounded time and returns its output. */
async function etcdctlWatch(args: string[], ms = 1500): Promise<string> {
  const { spawn } = await import('node:child_process');
  return new Promise((resolve) => {
    const child = spawn('/usr/bin/etcdctl', ['--endpoints', coord.endpoint, ...args], { env: { ...process.env, ETCDCTL_API: '3' } });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), ms);
    child.on('exit', () => {
      clearTimeout(timer);
      resolve(out);
    });
  });
}
