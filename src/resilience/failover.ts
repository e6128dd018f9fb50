import type { EndpointRef } from './types.js';

export interface FailoverOptions {
  /** Metadata tag marking the backup pool; default role=backup. */
  backupTag?: { key: string; value: string };
}

export type PoolTier = 'primary' | 'backup' | 'none';

export function isBackup(endpoint: EndpointRef, options: FailoverOptions = {}): boolean {
  const { key, value } = options.backupTag ?? { key: 'role', value: 'backup' };
  return endpoint.metadata?.[key] === value;
}

/**
 * The endpoints a call may use: the healthy primaries; only when none is healthy, the healthy
 * backups. All-or-nothing rather than Envoy's gradual spill-over — a backup pool is usually a
 * smaller or remote one that should see no traffic while any primary can serve.
 */
export function selectPool<E extends EndpointRef>(
  endpoints: readonly E[],
  isHealthy: (endpoint: E) => boolean,
  options: FailoverOptions = {},
): { tier: PoolTier; endpoints: E[] } {
  const primaries: E[] = [];
  const backups: E[] = [];
  for (const e of endpoints) {
    if (!isHealthy(e)) continue;
    (isBackup(e, options) ? backups : primaries).push(e);
  }
  if (primaries.length > 0) return { tier: 'primary', endpoints: primaries };
  if (backups.length > 0) return { tier: 'backup', endpoints: backups };
  return { tier: 'none', endpoints: [] };
}
