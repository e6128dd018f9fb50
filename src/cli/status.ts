// `shoal status`: the cluster at a glance, from the layout `shoal up` wrote in the data dir:
// each coordinator's Maintenance.Status (leader, term, raft index) and health (a linearizable
// read). Service instances join the report with the service runtime. Exit code 1 when a
// coordinator is unhealthy, so scripts can wait on it.
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { probeMember } from '../coord/server/index.js';
import { instanceStatuses, type InstanceStatus } from './instances.js';
import { readLayout } from './layout.js';

interface StatusFlags {
  dataDir: string;
  json?: boolean;
}

export interface CoordinatorStatus {
  name: string;
  id: string;
  url: string;
  leader: boolean;
  healthy: boolean;
  raftTerm: number;
  raftIndex: number;
  error?: string;
}

export interface ClusterStatus {
  coordinators: CoordinatorStatus[];
  instances: InstanceStatus[];
}

export function registerStatus(program: Command): void {
  program
    .command('status')
    .description('coordinator members, leader and health; service instances and their health')
    .option('--data-dir <path>', 'the data dir of `shoal up`', './.shoal')
    .option('--json', 'print { coordinators: [...], instances: [...] }')
    .action(async (flags: StatusFlags) => {
      try {
        const status = await clusterStatus(resolve(flags.dataDir));
        process.stdout.write(flags.json === true ? JSON.stringify(status, null, 2) + '\n' : render(status));
        if (status.coordinators.some((c) => !c.healthy)) process.exitCode = 1;
      } catch (err) {
        process.stderr.write(`shoal status: ${(err as Error).message}\n`);
        process.exitCode = 2;
      }
    });
}

export async function clusterStatus(dataDir: string): Promise<ClusterStatus> {
  const layout = await readLayout(dataDir);
  if (layout === null) throw new Error(`no Shoal cluster in ${dataDir} (start one with: shoal up --data-dir ${dataDir})`);
  const [probes, instances] = await Promise.all([
    Promise.all(layout.coordinators.map((c) => probeMember(c.clientUrl, 2000))),
    // With no coordinator quorum the registry cannot be read; the coordinators' rows say why.
    instanceStatuses(layout).catch((): InstanceStatus[] => []),
  ]);
  return {
    coordinators: layout.coordinators.map((c, i) => {
      const p = probes[i]!;
      const s: CoordinatorStatus = {
        name: c.name,
        id: p.id,
        url: c.clientUrl,
        leader: p.id !== '' && p.id === p.leader,
        healthy: p.healthy,
        raftTerm: p.raftTerm,
        raftIndex: p.raftIndex,
      };
      if (p.error !== undefined) s.error = p.error;
      return s;
    }),
    instances,
  };
}

function render(s: ClusterStatus): string {
  const rows = [['NAME', 'ID', 'URL', 'LEADER', 'HEALTHY', 'RAFT TERM', 'RAFT INDEX']];
  for (const c of s.coordinators) {
    rows.push([c.name, c.id || '-', c.url, c.leader ? 'yes' : '', c.healthy ? 'yes' : `no${c.error ? ` (${c.error})` : ''}`, String(c.raftTerm), String(c.raftIndex)]);
  }
  const table = renderTable(rows);
  const leader = s.coordinators.find((c) => c.leader);
  const head = `coordinators (${s.coordinators.filter((c) => c.healthy).length}/${s.coordinators.length} healthy, leader: ${leader?.name ?? 'none'})\n${table}\n`;
  if (s.instances.length === 0) return `${head}instances: none registered\n`;
  const irows = [['SERVICE', 'VERSION', 'INSTANCE', 'URL', 'PID', 'HEALTHY'], ...s.instances.map((i) => [i.service, i.version, i.id, i.url, String(i.pid), i.healthy ? 'yes' : 'no'])];
  return `${head}instances (${s.instances.filter((i) => i.healthy).length}/${s.instances.length} healthy)\n${renderTable(irows)}\n`;
}

function renderTable(rows: string[][]): string {
  const widths = rows[0]!.map((_, col) => Math.max(...rows.map((r) => r[col]!.length)));
  return rows.map((r) => r.map((cell, col) => cell.padEnd(widths[col]!)).join('  ').trimEnd()).join('\n');
}
