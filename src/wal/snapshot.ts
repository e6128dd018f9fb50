// Snapshot files: `snap-<index>.snap`, each written whole to a temporary name, fsynced and
// renamed into place, so a crash leaves either the old set or the old set plus the new file.
//
//   offset  size  field
//   0       8     magic "SHSNAP01"
//   8       8     index (u64 LE)
//   16      8     data length (u64 LE)
//   24      4     CRC-32 of bytes [8, 24) and the data
//   28      4     reserved (0)
//   32      n     data
import { crc32 } from 'node:zlib';
import { open, readdir, readFile, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { fsyncDir, mkdirDurable, writeFully } from './fsutil.js';

const MAGIC = Buffer.from('SHSNAP01', 'latin1');
const HEADER_BYTES = 32;
const TWO_32 = 2 ** 32;
const SNAP_NAME = /^snap-(\d{20})\.snap$/;
const TMP_SUFFIX = '.tmp';

export interface StoredSnapshot {
  index: number;
  data: Buffer;
  /** Newer snapshot files that failed their checksum and were passed over. */
  skipped: string[];
}

export interface SnapshotStoreOptions {
  dir: string;
  /** How many of the newest snapshots to keep. Default 2. */
  retain?: number;
  /** fsync file and directory. Default true. */
  sync?: boolean;
}

function snapName(index: number): string {
  return `snap-${String(index).padStart(20, '0')}.snap`;
}

function writeU64(buf: Buffer, value: number, offset: number): void {
  buf.writeUInt32LE(value % TWO_32, offset);
  buf.writeUInt32LE(Math.floor(value / TWO_32), offset + 4);
}

function readU64(buf: Buffer, offset: number): number {
  return buf.readUInt32LE(offset + 4) * TWO_32 + buf.readUInt32LE(offset);
}

export function encodeSnapshot(index: number, data: Buffer): Buffer {
  const header = Buffer.alloc(HEADER_BYTES);
  MAGIC.copy(header, 0);
  writeU64(header, index, 8);
  writeU64(header, data.length, 16);
  header.writeUInt32LE(crc32(data, crc32(header.subarray(8, 24))), 24);
  return Buffer.concat([header, data]);
}

/** The snapshot's data if the file is whole and its checksum verifies, else null. */
export function decodeSnapshot(buf: Buffer, index: number): Buffer | null {
  if (buf.length < HEADER_BYTES || !buf.subarray(0, 8).equals(MAGIC)) return null;
  if (readU64(buf, 8) !== index || readU64(buf, 16) !== buf.length - HEADER_BYTES) return null;
  const data = buf.subarray(HEADER_BYTES);
  if (crc32(data, crc32(buf.subarray(8, 24))) !== buf.readUInt32LE(24)) return null;
  return data;
}

export class SnapshotStore {
  private constructor(
    private readonly dir: string,
    private readonly retain: number,
    private readonly sync: boolean,
  ) {}

  static async open(options: SnapshotStoreOptions): Promise<SnapshotStore> {
    const retain = options.retain ?? 2;
    if (!Number.isInteger(retain) || retain < 1) throw new Error(`snapshot: retain must be >= 1, got ${retain}`);
    await mkdirDurable(options.dir, options.sync ?? true);
    // A leftover temporary file is a save that crashed before its rename: never visible, drop it.
    for (const name of await readdir(options.dir)) {
      if (SNAP_NAME.test(name.slice(0, -TMP_SUFFIX.length)) && name.endsWith(TMP_SUFFIX)) {
        await unlink(join(options.dir, name));
      }
    }
    return new SnapshotStore(options.dir, retain, options.sync ?? true);
  }

  /** Indexes of the snapshot files present, newest first. */
  async list(): Promise<number[]> {
    return (await readdir(this.dir))
      .map((name) => SNAP_NAME.exec(name))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => Number(m[1]))
      .sort((a, b) => b - a);
  }

  /** Durably stores the snapshot at `index`, then drops all but the newest `retain`. */
  async save(index: number, data: Buffer): Promise<void> {
    if (!Number.isSafeInteger(index) || index < 0) throw new Error(`snapshot: invalid index ${index}`);
    const path = join(this.dir, snapName(index));
    const tmp = path + TMP_SUFFIX;
    const fh = await open(tmp, 'w');
    try {
      await writeFully(fh, encodeSnapshot(index, data), 0);
      if (this.sync) await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
    if (this.sync) await fsyncDir(this.dir);

    const stale = (await this.list()).slice(this.retain);
    for (const old of stale) await unlink(join(this.dir, snapName(old)));
    if (stale.length > 0 && this.sync) await fsyncDir(this.dir);
  }

  /** The newest snapshot whose checksum verifies, or null if there is none. */
  async loadLatest(): Promise<StoredSnapshot | null> {
    const skipped: string[] = [];
    for (const index of await this.list()) {
      const path = join(this.dir, snapName(index));
      const data = decodeSnapshot(await readFile(path), index);
      if (data !== null) return { index, data, skipped };
      skipped.push(path);
    }
    return null;
  }
}
