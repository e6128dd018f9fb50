// A single-process RefreshTokenStore. JavaScript runs each method to completion between awaits,
// which is what makes rotate() atomic here; a database store gets the same from a transaction
// (UPDATE ... SET status='rotated' WHERE hash=? AND status='active', then INSERT).
import type { RefreshTokenRecord, RefreshTokenStore } from './refresh-tokens.js';

export class MemoryRefreshTokenStore implements RefreshTokenStore {
  private readonly byHash = new Map<string, RefreshTokenRecord>();
  private readonly families = new Map<string, Set<string>>();

  async get(tokenHash: string): Promise<RefreshTokenRecord | undefined> {
    const record = this.byHash.get(tokenHash);
    return record === undefined ? undefined : { ...record, scope: [...record.scope] };
  }

  async insert(record: RefreshTokenRecord): Promise<void> {
    if (this.byHash.has(record.tokenHash)) throw new Error('assertion: refresh token hashes are unique');
    this.put(record);
  }

  async rotate(tokenHash: string, next: RefreshTokenRecord): Promise<boolean> {
    const current = this.byHash.get(tokenHash);
    if (current === undefined || current.status !== 'active') return false;
    if (next.familyId !== current.familyId) throw new Error('assertion: rotation stays within a family');
    if (this.byHash.has(next.tokenHash)) throw new Error('assertion: refresh token hashes are unique');
    current.status = 'rotated';
    this.put(next);
    return true;
  }

  async revokeFamily(familyId: string): Promise<number> {
    let active = 0;
    for (const hash of this.families.get(familyId) ?? []) {
      const record = this.byHash.get(hash)!;
      if (record.status === 'active') active++;
      record.status = 'revoked';
    }
    return active;
  }

  async deleteExpired(now: number): Promise<number> {
    let deleted = 0;
    for (const [familyId, hashes] of this.families) {
      const first = this.byHash.get(hashes.values().next().value!)!;
      if (first.familyExpiresAt > now) continue;
      for (const hash of hashes) this.byHash.delete(hash);
      this.families.delete(familyId);
      deleted += hashes.size;
    }
    return deleted;
  }

  get size(): number {
    return this.byHash.size;
  }

  private put(record: RefreshTokenRecord): void {
    this.byHash.set(record.tokenHash, { ...record, scope: [...record.scope] });
    let family = this.families.get(record.familyId);
    if (family === undefined) this.families.set(record.familyId, (family = new Set()));
    family.add(record.tokenHash);
  }
}
