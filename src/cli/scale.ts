// `shoal scale <service>=<n>` and `shoal kill <instance>`: ask the running `shoal up` (through its
// control socket) to change a service's instance count, or to SIGKILL one instance so failover can
// be watched. An instance is named by its supervisor name (users-1) or its registry id.
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { sendControl, type ControlResponse } from './control.js';
import { listInstances } from './instances.js';
import { readLayout } from './layout.js';
import { FlagError } from './urls.js';

export function registerScale(program: Command): void {
  program
    .command('scale')
    .description('set the number of instances of a shop service in the running `shoal up`')
    .argument('<service=count>', 'e.g. goods=3 (0..32)')
    .option('--data-dir <path>', 'the data dir of `shoal up`', './.shoal')
    .action(async (arg: string, flags: { dataDir: string }) =>
      run(async () => {
        const m = /^([a-z][a-z0-9-]*)=(\d{1,2})$/.exec(arg);
        if (m === null) throw new FlagError(`expected <service>=<count>, e.g. goods=3; got ${JSON.stringify(arg)}`);
        return sendControl(resolve(flags.dataDir), { op: 'scale', service: m[1]!, count: Number(m[2]) }, 120_000);
      }),
    );
  program
    .command('kill')
    .description('SIGKILL one service instance of the running `shoal up` (the supervisor restarts it)')
    .argument('<instance>', 'supervisor name (goods-1) or instance id from `shoal status`')
    .option('--data-dir <path>', 'the data dir of `shoal up`', './.shoal')
    .action(async (target: string, flags: { dataDir: string }) =>
      run(async () => {
        const dataDir = resolve(flags.dataDir);
        if (/^[a-z][a-z0-9-]*-\d+$/.test(target)) {
          const direct = await sendControl(dataDir, { op: 'kill', target });
          if (direct.ok) return direct;
        }
        const layout = await readLayout(dataDir);
        if (layout === null) throw new Error(`no Shoal cluster in ${dataDir}`);
        const record = (await listInstances(layout)).find((r) => r.id === target);
        if (record === undefined) throw new Error(`no instance ${target} (see shoal status)`);
        return sendControl(dataDir, { op: 'kill', target, pid: record.pid });
      }),
    );
}

async function run(action: () => Promise<ControlResponse>): Promise<void> {
  try {
    const response = await action();
    if (response.ok) process.stdout.write(`${response.message}\n`);
    else {
      process.stderr.write(`shoal: ${response.error}\n`);
      process.exitCode = 1;
    }
  } catch (err) {
    process.stderr.write(`shoal: ${(err as Error).message}\n`);
    process.exitCode = err instanceof FlagError ? 2 : 1;
  }
}
