// Persisting the key ring so a restart keeps issued tokens verifiable. The file holds private
// keys: it is written 0600 via a temp file and rename (never half-written), and a file others
// can read is refused on load rather than trusted.
import { randomBytes } from 'node:crypto';
import { link, open, readFile, rename, rm, stat } from 'node:fs/promises';
import { dirname, join, basename } from 'node:path';
import { AuthError, AuthErrorCode } from './errors.js';
import { KeyRing, type KeyRingOptions } from './key-ring.js';

const MAX_FILE_BYTES = 1024 * 1024;

export async function saveKeyRing(path: string, ring: KeyRing): Promise<void> {
  const tmp = await writeTemp(path, ring);
  await rename(tmp, path);
  await syncDir(dirname(path));
}

export async function loadKeyRing(path: string, options: KeyRingOptions = {}): Promise<KeyRing> {
  const info = await stat(path);
  if (!info.isFile()) throw new AuthError(AuthErrorCode.KEY_INVALID, 'key file is not a regular file');
  if ((info.mode & 0o077) !== 0) {
    throw new AuthError(AuthErrorCode.KEY_INVALID, 'key file is readable by group or others; chmod 600 it');
  }
  if (info.size > MAX_FILE_BYTES) throw new AuthError(AuthErrorCode.KEY_INVALID, 'key file too large');
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(path, 'utf8'));
  } catch {
    // No cause attached: a JSON.parse message can quote the file's contents.
    throw new AuthError(AuthErrorCode.KEY_INVALID, 'key file is not valid JSON');
  }
  return KeyRing.fromFile(parsed, options);
}

/**
 * Loads the ring at `path`, or makes a new one and saves it there if the file does not exist.
 * Instances starting together agree on one ring: the file is created with link(), which never
 * replaces, and the loser loads the winner's ring.
 */
export async function loadOrCreateKeyRing(path: string, options: KeyRingOptions = {}): Promise<KeyRing> {
  try {
    return await loadKeyRing(path, options);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const ring = KeyRing.generate(options);
  const tmp = await writeTemp(path, ring);
  try {
    await link(tmp, path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    return await loadKeyRing(path, options);
  } finally {
    await rm(tmp, { force: true });
  }
  await syncDir(dirname(path));
  return ring;
}

async function writeTemp(path: string, ring: KeyRing): Promise<string> {
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  const handle = await open(tmp, 'wx', 0o600);
  try {
    // The umask cannot widen 0600, but it is cheap to be certain before any key byte is written.
    await handle.chmod(0o600);
    await handle.writeFile(JSON.stringify(ring.toFile(), null, 2) + '\n', 'utf8');
    await handle.sync();
  } catch (err) {
    await handle.close();
    await rm(tmp, { force: true });
    throw err;
  }
  await handle.close();
  return tmp;
}

async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
