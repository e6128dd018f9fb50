// Several instances of a service share one SQLite file: two stores (two connections) in this
// process, and two processes racing on a fresh file.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { GoodsStore } from '../../src/shop/goods/index.js';
import { UsersStore, usersMigrations } from '../../src/shop/users/index.js';
import { ServiceDb, type Migration } from '../../src/shop/common/index.js';
import { CHEAP_HASH, tempDir, type TempDir } from './helpers.js';

const WORKER = fileURLToPath(new URL('./fixtures/deposit-worker.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

describe('two stores on one file', () => {
  let dir: TempDir;
  const closers: Array<() => Promise<void>> = [];
  beforeEach(() => {
    dir = tempDir();
  });
  afterEach(async () => {
    for (const close of closers.splice(0)) await close();
    dir.remove();
  });

  function users(): UsersStore {
    const s = UsersStore.open(dir.file('users.db'), { hash: CHEAP_HASH });
    closers.push(() => s.close());
    return s;
  }

  it('each sees the other’s writes; concurrent deposits with one requestId apply once', async () => {
    const a = users();
    const b = users();
    const u = await a.create({ name: 'Ann', email: 'ann@example.com', password: 'password one', address: '', phone: '+44 20 7946 0000' });
    expect(await b.get({ id: u.id })).toEqual(u);
    expect((await b.create({ name: 'X', email: 'ANN@example.com', password: 'password two', address: '', phone: '1234' }).catch((e: { code: string }) => e.code))).toBe(
      'EMAIL_TAKEN',
    );
    await b.deposit({ id: u.id, amount: 250 });
    expect((await a.get({ id: u.id })).wallet).toBe(250);
    const results = await Promise.all([
      a.deposit({ id: u.id, amount: 100, requestId: 'r1' }),
      b.deposit({ id: u.id, amount: 100, requestId: 'r1' }),
      a.deposit({ id: u.id, amount: 100, requestId: 'r1' }),
      b.deposit({ id: u.id, amount: 100, requestId: 'r1' }),
    ]);
    for (const r of results) expect(r.wallet).toBe(350);
    expect((await a.get({ id: u.id })).wallet).toBe(350);
    expect(await b.authenticate({ email: 'ann@example.com', password: 'password one' })).toMatchObject({ id: u.id });
  });

  it('goods written through one store are listed and updated through the other', async () => {
    const a = GoodsStore.open(dir.file('goods.db'));
    const b = GoodsStore.open(dir.file('goods.db'));
    closers.push(() => a.close(), () => b.close());
    const g1 = await a.create({ name: 'one', price: 1, stock: 1 });
    const g2 = await b.create({ name: 'two', price: 2, stock: 2 });
    expect((await a.list()).items.map((g) => g.id).sort()).toEqual([g1.id, g2.id].sort());
    await b.update({ id: g1.id, stock: 9 });
    expect((await a.get({ id: g1.id })).stock).toBe(9);
  });

  it('migrations run once per file and a newer schema is refused', async () => {
    const m: Migration[] = [{ version: 1, name: 't', statements: ['CREATE TABLE t (x INTEGER) STRICT'] }];
    const one = ServiceDb.open(dir.file('m.db'), m);
    const two = ServiceDb.open(dir.file('m.db'), m); // would fail with "table t already exists" if re-run
    expect(one.schemaVersion()).toBe(1);
    expect(two.schemaVersion()).toBe(1);
    await two.close();
    await one.close();
    const more: Migration[] = [...m, { version: 2, name: 'u', statements: ['ALTER TABLE t ADD COLUMN y TEXT'] }];
    const upgraded = ServiceDb.open(dir.file('m.db'), more);
    expect(upgraded.schemaVersion()).toBe(2);
    await upgraded.close();
    expect(() => ServiceDb.open(dir.file('m.db'), m)).toThrow(/newer than this build/);
  });

  it('a synchronous transaction rolls back entirely on a throw', async () => {
    const a = users();
    const u = await a.create({ name: 'Rolf', email: 'rolf@example.com', password: 'password one', address: '', phone: '1234' });
    const k = a.db.kysely;
    await expect(
      a.db.transaction((q) => {
        q.run(k.updateTable('users').set({ wallet: 77 }).where('id', '=', u.id));
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect((await a.get({ id: u.id })).wallet).toBe(0);
  });
});

describe('two processes on one fresh file', () => {
  let dir: TempDir;
  const children: ChildProcess[] = [];
  beforeEach(() => {
    dir = tempDir();
  });
  afterEach(() => {
    for (const child of children.splice(0)) if (child.exitCode === null && child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
    dir.remove();
  });

  it('migrate, create the admin and apply shared request ids exactly once', async () => {
    const file = dir.file('users.db');
    const count = 40;
    const start = (tag: string): { child: ChildProcess; lines: AsyncIterator<string> } => {
      const child = spawn(process.execPath, ['--import', 'tsx', WORKER, file, String(count), tag], {
        cwd: ROOT,
        stdio: ['pipe', 'pipe', 'inherit'],
      });
      children.push(child);
      return { child, lines: createInterface({ input: child.stdout! })[Symbol.asyncIterator]() };
    };
    const workers = [start('a'), start('b')];
    for (const w of workers) expect((await w.lines.next()).value).toBe('ready');
    for (const w of workers) w.child.stdin!.write('go\n');
    const reports = await Promise.all(
      workers.map(async (w) => {
        const line = (await w.lines.next()).value as string;
        const [code] = (await once(w.child, 'exit')) as [number | null];
        expect(code).toBe(0);
        return JSON.parse(line) as { tag: string; adminId: string; wallet: number };
      }),
    );
    expect(reports[0]!.adminId).toBe(reports[1]!.adminId);
    const check = UsersStore.open(file, { hash: CHEAP_HASH });
    try {
      // Shared request ids: 3 cents once each; plain deposits: 1 cent from each process.
      expect((await check.get({ id: reports[0]!.adminId })).wallet).toBe(count * 3 + 2 * count);
      const admins = await check.db.kysely.selectFrom('users').select('id').execute();
      expect(admins).toHaveLength(1);
      const requests = await check.db.kysely.selectFrom('deposit_requests').select('request_id').execute();
      expect(requests).toHaveLength(count);
      expect(check.db.schemaVersion()).toBe(usersMigrations.length);
    } finally {
      await check.close();
    }
  });
});
