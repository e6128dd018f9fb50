import { mkdir, open, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';

/** Makes a create, rename or unlink in `dir` durable. */
export async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** write() may return short; loop until all of `buf` is at `position`. */
export async function writeFully(fh: FileHandle, buf: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < buf.length) {
    const { bytesWritten } = await fh.write(buf, done, buf.length - done, position + done);
    if (bytesWritten <= 0) throw new Error('wal: write made no progress');
    done += bytesWritten;
  }
}

/** mkdir -p that also makes the new directory's entry durable in its parent. */
export async function mkdirDurable(dir: string, sync: boolean): Promise<void> {
  const created = await mkdir(dir, { recursive: true });
  if (created !== undefined && sync) await fsyncDir(dirname(dir));
}
