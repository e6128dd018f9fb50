// Crash safety: every acknowledged put survives SIGKILL; a torn last log record is cut on
// restart (it was never acknowledged), not fatal. Snapshots are taken every 100 commands so
// recovery exercises snapshot + log replay.
import { readdirSync, readFileSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { scanSegment } from '../../src/wal/scan.js';
import { call, client, startCoord, stopAll, tempDir } from './harness.js';

afterAll(stopAll);

const ARGS = ['--snapshot-count', '100'];

async function readAll(endpoint: string, prefix: string): Promise<Map<string, string>> {
  const kv = client('etcdserverpb.KV', endpoint);
  try {
    const end = Buffer.from(prefix);
    end[end.length - 1]++;
    const res = await call<{ kvs: { key: Buffer; value: Buffer }[] }>(kv, 'Range', { key: Buffer.from(prefix), rangeEnd: end });
    return new Map(res.kvs.map((k) => [k.key.toString(), k.value.toString()]));
  } finally {
    kv.close();
  }
}

describe('crash safety', () => {
  it('keeps every acknowledged put across SIGKILL mid-stream', async () => {
    const dataDir = join(tempDir(), 'data');
    const first = await startCoord({ dataDir, args: ARGS });
    const kv = client('etcdserverpb.KV', first.endpoint);
    const acked = new Map<string, string>();
    let killed = false;
    let next = 0;
    const TARGET = 400;

    // 16 writers put fresh keys until the server is killed once TARGET puts were acknowledged.
    const writer = async (): Promise<void> => {
      while (!killed) {
        const key = `crash/${String(next++).padStart(6, '0')}`;
        const value = `v-${key}`;
        try {
          await call(kv, 'Put', { key: Buffer.from(key), value: Buffer.from(value) }, 5000);
        } catch {
          return; // the server is gone: this put was never acknowledged
        }
        if (!killed) acked.set(key, value);
        if (acked.size >= TARGET && !killed) {
          killed = true;
          first.child.kill('SIGKILL');
        }
      }
    };
    await Promise.all(Array.from({ length: 16 }, writer));
    kv.close();
    expect(await first.exited).toBe('SIGKILL');
    expect(acked.size).toBeGreaterThanOrEqual(TARGET);

    const second = await startCoord({ dataDir, args: ARGS });
    const stored = await readAll(second.endpoint, 'crash/');
    for (const [key, value] of acked) expect(stored.get(key), key).toBe(value);
    // Snapshots were taken and recovery started from one.
    const recovered = second.logs.map((l) => JSON.parse(l) as { msg: string; snapshotIndex?: number }).find((l) => l.msg === 'coord: recovered');
    expect(recovered?.snapshotIndex).toBeGreaterThan(0);
    await second.stop('SIGKILL');
  });

  it('repairs a torn last log record on restart and keeps serving', async () => {
    const dataDir = join(tempDir(), 'data');
    const first = await startCoord({ dataDir });
    const kv = client('etcdserverpb.KV', first.endpoint);
    // Sequential puts: the last one is the last record in the log.
    for (let i = 0; i < 10; i++) await call(kv, 'Put', { key: Buffer.from(`torn/${i}`), value: Buffer.from(`v${i}`) });
    kv.close();
    first.child.kill('SIGKILL');
    await first.exited;

    const walDir = join(dataDir, 'member', 'wal');
    const last = readdirSync(walDir).filter((n) => n.endsWith('.wal')).sort().pop()!;
    const path = join(walDir, last);
    // The segment may be zero-filled past its records (src/wal/wal.ts): cut 3 bytes off the last record.
    const recordsEnd = scanSegment(readFileSync(path), Number(last.slice(0, 20))).validBytes;
    truncateSync(path, recordsEnd - 3);

    const second = await startCoord({ dataDir });
    expect(second.logs.some((l) => l.includes('repaired a torn write'))).toBe(true);
    const stored = await readAll(second.endpoint, 'torn/');
    // Everything before the torn record is there; the torn record (the last put) is cut.
    for (let i = 0; i < 9; i++) expect(stored.get(`torn/${i}`)).toBe(`v${i}`);
    expect(stored.has('torn/9')).toBe(false);

    // Still serving writes after the repair, and they persist.
    const kv2 = client('etcdserverpb.KV', second.endpoint);
    await call(kv2, 'Put', { key: Buffer.from('torn/after'), value: Buffer.from('ok') });
    kv2.close();
    expect(await second.stop('SIGTERM')).toBe(0);
    const third = await startCoord({ dataDir });
    expect((await readAll(third.endpoint, 'torn/')).get('torn/after')).toBe('ok');
  });
});
