import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

/** Temp dirs created by a test file, removed in its afterAll. */
export class TempDirs {
  private readonly dirs: string[] = [];

  async make(prefix = 'shoal-wal-'): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), prefix));
    this.dirs.push(dir);
    return dir;
  }

  async removeAll(): Promise<void> {
    for (const dir of this.dirs.splice(0)) await rm(dir, { recursive: true, force: true });
  }
}

/** Deterministic payload for an LSN, of varying length. */
export function payloadFor(lsn: number): Buffer {
  const len = 1 + ((lsn * 7919) % 97);
  const buf = Buffer.alloc(len);
  for (let i = 0; i < len; i++) buf[i] = (lsn + i * 31) & 0xff;
  return buf;
}

/**
 * Runs `node --import tsx script ...args`, collects the numbers it prints as `ack <n>` lines,
 * and SIGKILLs it (by the PID it started) once `stopAfter` have arrived.
 */
export async function runAndKill(script: string, args: string[], stopAfter: number): Promise<number[]> {
  const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = once(child, 'exit');
  const acked: number[] = [];
  try {
    for await (const line of createInterface({ input: child.stdout })) {
      const m = /^ack (\d+)$/.exec(line);
      if (m) acked.push(Number(m[1]));
      if (acked.length >= stopAfter) {
        process.kill(child.pid as number, 'SIGKILL');
        break;
      }
    }
  } finally {
    if (child.exitCode === null && child.signalCode === null) process.kill(child.pid as number, 'SIGKILL');
  }
  const [code, signal] = await exited;
  if (signal !== 'SIGKILL') throw new Error(`child exited with code ${code} before it was killed`);
  return acked;
}
