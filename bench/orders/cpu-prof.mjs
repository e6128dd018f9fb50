// Loaded with NODE_OPTIONS="--import <this file>" (node refuses --cpu-prof in NODE_OPTIONS, and
// `shoal up`'s children inherit the environment): profiles this process with the in-process
// inspector and writes <SHOAL_CPU_PROF_DIR>/<role>-<pid>.cpuprofile when it exits. An in-process
// inspector session answers synchronously, so this works inside an 'exit' handler.
import { Session } from 'node:inspector';
import process from 'node:process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.env.SHOAL_CPU_PROF_DIR;
if (dir) {
  const argv = process.argv.slice(1).join(' ');
  const role = process.env.SHOAL_INSTANCE_NAME ?? (/gateway\/main/.test(argv) ? 'gateway' : / coord /.test(argv) ? 'coord' : / up /.test(argv) ? 'shoal-up' : 'other');
  const session = new Session();
  session.connect();
  session.post('Profiler.enable');
  session.post('Profiler.setSamplingInterval', { interval: 1000 });
  session.post('Profiler.start');
  process.on('exit', () => {
    session.post('Profiler.stop', (err, result) => {
      if (!err) writeFileSync(join(dir, `${role}-${process.pid}.cpuprofile`), JSON.stringify(result.profile));
    });
  });
}
