import { it } from 'vitest';
import { randomWalk, describeCluster } from './random-walk.js';
it('dbg', () => {
  try {
    randomWalk(25, 250, (step, _op, net) => {
      if (step !== -1) return;
      console.log(describeCluster(net));
      const start = net.delivered.length;
      net.tickAll(25);
      console.log(net.delivered.slice(start, start + 60).map((m) => `${m.type} ${m.from}->${m.to} t${m.term} i${m.index} lt${m.logTerm} r${m.reject}`).join('\n'));
      console.log(describeCluster(net));
    });
  } catch (e) { console.log(String(e).slice(0, 200)); }
});
