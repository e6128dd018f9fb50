import { close, constants, open as openFd, write, writeSync } from 'node:fs';
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

/**
 * Opens a WAL segment for writing at explicit positions. With `sync`, O_DSYNC: each write
 * returns only once its data (and the file size it needs) is durable, as write + fdatasync
 * would, but as one thread-pool operation instead of two (one event-loop hop less per group
 * commit, and about half the main-thread cost of dispatching them).
 */
export function openSegment(path: string, create: boolean, sync: boolean): Promise<number> {
  const flags = constants.O_WRONLY | (create ? constants.O_CREAT | constants.O_EXCL : 0) | (sync ? constants.O_DSYNC : 0);
  return new Promise((resolve, reject) => openFd(path, flags, 0o644, (err, fd) => (err ? reject(err) : resolve(fd))));
}

export function closeFd(fd: number): Promise<void> {
  return new Promise((resolve, reject) => close(fd, (err) => (err ? reject(err) : resolve())));
}

/** write() may return short; loop until all of `buf` is at `position` (callback API: no FileHandle promise machinery). */
export function writeFullyFd(fd: number, buf: Buffer, position: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let done = 0;
    const next = (): void =>
      write(fd, buf, done, buf.length - done, position + done, (err, bytesWritten) => {
        if (err) return reject(err);
        if (bytesWritten <= 0) return reject(new Error('wal: write made no progress'));
        done += bytesWritten;
        if (done < buf.length) next();
        else resolve();
      });
    next();
  });
}

/** writeFullyFd on the calling thread: for a small write when nothing else waits on this thread. */
export function writeFullySync(fd: number, buf: Buffer, position: number): void {
  let done = 0;
  while (done < buf.length) {
    const bytesWritten = writeSync(fd, buf, done, buf.length - done, position + done);
    if (bytesWritten <= 0) throw new Error('wal: write made no progress');
    done += bytesWritten;
  }
}
