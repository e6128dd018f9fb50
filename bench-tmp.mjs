import { Etcd3 } from 'etcd3';
const host = process.argv[2]; const mode = process.argv[3]; const secs = Number(process.argv[4] ?? 4); const conc = Number(process.argv[5] ?? 64);
const etcd = new Etcd3({ hosts: `http://${host}` });
await etcd.put('bench/k').value('x'.repeat(100));
let n = 0; const end = Date.now() + secs * 1000;
const val = 'v'.repeat(100);
async function worker(i) { while (Date.now() < end) { if (mode === 'put') await etcd.put('bench/' + (n % 1000)).value(val); else await etcd.get('bench/k').string(); n++; } }
const t0 = Date.now();
await Promise.all(Array.from({ length: conc }, (_, i) => worker(i)));
console.log(mode, (n / ((Date.now() - t0) / 1000)).toFixed(0), 'ops/s');
etcd.close();
