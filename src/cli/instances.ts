// Service instances as the registry holds them (`/shoal/services/...` in the coordinator), with a
// live health probe of each one's /readyz — for `shoal status` and `shoal kill <instanceId>`.
import { request } from 'undici';
import { parseStoredRecord, SERVICES_ROOT, type InstanceRecord } from '../discovery/index.js';
import { createCoordClient } from '../recipes/index.js';
import type { ClusterLayout } from './layout.js';

export interface InstanceStatus {
  id: string;
  service: string;
  version: string;
  url: string;
  pid: number;
  healthy: boolean;
}

export async function listInstances(layout: ClusterLayout, timeoutMs = 2000): Promise<InstanceRecord[]> {
  const client = createCoordClient(layout.coordinators.map((c) => c.clientUrl.replace('http://', '')), { callTimeoutMs: timeoutMs });
  try {
    const values = await client.getAll().prefix(SERVICES_ROOT).strings();
    const records: InstanceRecord[] = [];
    for (const text of Object.values(values)) {
      // A value that is not an instance record is not ours to show.
      const parsed = parseStoredRecord(text);
      if (parsed.ok) records.push(parsed.record);
    }
    return records.sort((a, b) => a.service.localeCompare(b.service) || a.id.localeCompare(b.id));
  } finally {
    client.close();
  }
}

export async function instanceStatuses(layout: ClusterLayout): Promise<InstanceStatus[]> {
  const records = await listInstances(layout);
  return Promise.all(
    records.map(async (r) => ({
      id: r.id,
      service: r.service,
      version: r.version,
      url: r.urls[0] ?? '',
      pid: r.pid,
      healthy: r.ready && (r.adminUrl === undefined || (await probeReady(r.adminUrl))),
    })),
  );
}

async function probeReady(adminUrl: string): Promise<boolean> {
  try {
    const res = await request(new URL('/readyz', adminUrl), { headersTimeout: 1000, bodyTimeout: 1000 });
    await res.body.dump();
    return res.statusCode === 200;
  } catch {
    return false;
  }
}
