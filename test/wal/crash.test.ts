import { afterAll, describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { Wal } from '../../src/wal/index.js';
import { payloadFor, runAndKill, TempDirs } from './helpers.js';

const temps = new TempDirs();
afterAll(() => temps.removeAll());

const CHILD = fileURLToPath(new URL('./crash-child.ts', import.meta.url));

describe('Wal crash safety', () => {
  it('keeps every acknowledged record across SIGKILLs of a writing process', async () => {
    const dir = await temps.make();
    let allAcked: number[] = [];
    for (const stopAfter of [400, 300]) {
      const acked = await runAndKill(CHILD, [dir], stopAfter);
      expect(acked.length).toBeGreaterThanOrEqual(stopAfter);
      allAcked = allAcked.concat(acked);

      const { wal, records } = await Wal.open({ dir, segmentBytes: 16 * 1024 });
      const byLsn = new Map(records.map((r) => [r.lsn, r.data]));
      for (const lsn of allAcked) {
        const data = byLsn.get(lsn);
        expect(data, `acknowledged LSN ${lsn} missing`).toBeDefined();
        expect(data?.equals(payloadFor(lsn))).toBe(true);
      }
      // Contiguous from the first LSN: nothing in the middle vanished.
      records.forEach((r, i) => expect(r.lsn).toBe(i + 1));
      expect(wal.nextLsn).toBe(records.length + 1);
      await wal.close();
    }
  });
});
