// The README's shop tour, verbatim: the `sh` block under "A tour of the shop" is taken from
// README.md and run with bash against a fresh `shoal up` (G points it at the test's port). If the
// README drifts from what the shop does, this fails.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alive, REPO, shoalUpPort, startShoalUp, type ShoalUp } from '../support/shoal-up.js';

const root = mkdtempSync(join(tmpdir(), 'shoal-tour-'));
let up: ShoalUp | undefined;

beforeAll(async () => {
  up = await startShoalUp({ dataDir: join(root, 'data'), port: await shoalUpPort() });
}, 200_000);

afterAll(async () => {
  if (up !== undefined) {
    await up.stop('SIGINT');
    for (const pid of up.childPids()) if (alive(pid)) process.kill(pid, 'SIGKILL');
  }
  rmSync(root, { recursive: true, force: true });
});

function tourBlock(): string {
  const readme = readFileSync(join(REPO, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## A tour of the shop'));
  const block = /```sh\n(G=\$\{G:-[\s\S]*?)```/.exec(section);
  if (block === null) throw new Error('README: no sh block starting with G=${G:-...} under "A tour of the shop"');
  return block[1]!;
}

function bash(script: string, env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn('bash', ['-e', '-o', 'pipefail', '-c', script], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('README tour', () => {
  it('runs verbatim against shoal up and shows what the README says', async () => {
    const result = await bash(tourBlock(), { G: up!.gateway });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const lines = result.stdout.split('\n').filter((l) => l.trim() !== '');
    const answers = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    const [created, deposited, list, goods, placed, me, refused] = answers as [
      { id: string; email: string; wallet: number; password?: unknown },
      { wallet: number },
      { items: { name: string }[] },
      { id: string; name: string; price: number; stock: number },
      { order: { status: string; total: number; items: { goodsId: string; qty: number }[] }; user: { id: string } },
      { email: string; wallet: number },
      { error: { code: string; message: string } },
    ];
    expect(answers).toHaveLength(7);
    expect(created.email).toBe('ada@example.com');
    expect(created.wallet).toBe(0);
    expect(JSON.stringify(created)).not.toContain('correct horse');
    expect(deposited.wallet).toBe(5000);
    expect(list.items.map((i) => i.name)).toContain('Teapot');
    expect(goods).toMatchObject({ name: 'Teapot', price: 1999, stock: 10 });
    expect(placed.order).toMatchObject({ status: 'confirmed', total: 2 * 1999, items: [{ goodsId: goods.id, qty: 2 }] });
    expect(placed.user.id).toBe(created.id);
    expect(me).toMatchObject({ email: 'ada@example.com', wallet: 5000 - 2 * 1999 });
    expect(refused.error.code).toBe('PERMISSION_DENIED');
  }, 60_000);
});
