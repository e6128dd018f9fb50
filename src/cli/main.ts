#!/usr/bin/env node
// The `shoal` command: a thin dispatcher. Each command lives in its own file and registers
// itself on the program.
import { Command } from 'commander';
import { registerCoord } from './coord.js';
import { registerScale } from './scale.js';
import { registerStatus } from './status.js';
import { registerUp } from './up.js';

const program = new Command('shoal')
  .description('Shoal: distributed microservices on a Raft-replicated, etcd-compatible coordinator')
  .showHelpAfterError();

registerCoord(program);
registerUp(program);
registerStatus(program);
registerScale(program);

await program.parseAsync(process.argv);
