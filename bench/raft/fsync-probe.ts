// The disk's own durable-write rate, the anchor for Raft's figures: 4 KiB appended to a file,
// then fdatasync, in a loop (what a WAL without group commit could do at best, one record per
// fsync). Synchronous calls: nothing else runs in this loop.
import { closeSync, fdatasyncSync, openSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';

export interface FsyncProbe {
  fsyncsPerSec: number;
  meanMs: number;
  p50Ms: number;
  p99Ms: number;
  samples: number;
}

export function probeFsync(dir: string, durationMs: number): FsyncProbe {
  const path = join(dir, 'fsync-probe.dat');
  const fd = openSync(path, 'w');
  const block = Buffer.alloc(4096, 0xa5);
  const times: number[] = [];
  const t0 = performance.now();
  try {
    let offset = 0;
    while (performance.now() - t0 < durationMs) {
      const s = performance.now();
      writeSync(fd, block, 0, block.length, offset);
      fdatasyncSync(fd);
      times.push(performance.now() - s);
      offset += block.length;
    }
  } finally {
    closeSync(fd);
    rmSync(path, { force: true });
  }
  const total = times.reduce((a, b) => a + b, 0);
  times.sort((a, b) => a - b);
  return {
    fsyncsPerSec: Math.round(times.length / (total / 1000)),
    meanMs: total / times.length,
    p50Ms: times[Math.floor(times.length * 0.5)],
    p99Ms: times[Math.min(times.length - 1, Math.floor(times.length * 0.99))],
    samples: times.length,
  };
}
