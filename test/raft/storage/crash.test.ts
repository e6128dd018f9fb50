import { afterAll, describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { DiskStorage } from '../../../src/raft/storage/index.js';
import { runAndKill, TempDirs } from '../../wal/helpers.js';

const temps = new TempDirs();
afterAll(() => temps.removeAll());

const CHILD = fileURLToPath(new URL('./crash-child.ts', import.meta.url));
const dataFor = (index: number): Buffer => Buffer.from(`entry-${index}-`.padEnd(40 + (index % 50), 'x'));

describe('DiskStorage crash recovery', () => {
  it('recovers every acknowledged entry after SIGKILLs, across snapshots and released segments', async () => {
    const dir = await temps.make();
    for (const stopAfter of [300, 200]) {
      const acked = await runAndKill(CHILD, [dir], stopAfter);
      const maxAcked = Math.max(...acked);

      const { storage, state } = await DiskStorage.open({ dir, segmentBytes: 8 * 1024 });
      await storage.close();
      const snapIndex = state.snapshot?.meta.index ?? 0;
      expect(snapIndex).toBeGreaterThan(1);
      expect(Buffer.from(state.snapshot?.data ?? []).toString()).toBe(`upto-${snapIndex}`);
      const last = state.entries.at(-1)?.index ?? snapIndex;
      expect(last).toBeGreaterThanOrEqual(maxAcked);
      expect(state.hardState.commit).toBeGreaterThanOrEqual(maxAcked);
      state.entries.forEach((e, i) => {
        expect(e.index).toBe(snapIndex + 1 + i);
        expect(Buffer.from(e.data).equals(dataFor(e.index))).toBe(true);
      });
    }
  });
});
