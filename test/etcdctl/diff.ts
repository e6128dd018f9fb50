// A readable line diff (longest common subsequence), for transcripts of a few hundred lines.

export function lineDiff(expected: string, actual: string, context = 3): string {
  const a = expected.split('\n');
  const b = actual.split('\n');
  const n = a.length;
  const m = b.length;
  // lcs[i][j] = length of the LCS of a[i..] and b[j..]
  const lcs: Uint32Array[] = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      lcs[i]![j] = a[i] === b[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
    }
  }
  const ops: Array<{ tag: ' ' | '-' | '+'; text: string; line: number }> = [];
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && a[i] === b[j]) {
      ops.push({ tag: ' ', text: a[i]!, line: i + 1 });
      i++;
      j++;
    } else if (j < m && (i >= n || lcs[i]![j + 1]! >= lcs[i + 1]![j]!)) {
      ops.push({ tag: '+', text: b[j]!, line: j + 1 });
      j++;
    } else {
      ops.push({ tag: '-', text: a[i]!, line: i + 1 });
      i++;
    }
  }
  const keep = new Set<number>();
  ops.forEach((op, idx) => {
    if (op.tag === ' ') return;
    for (let k = Math.max(0, idx - context); k <= Math.min(ops.length - 1, idx + context); k++) keep.add(k);
  });
  if (keep.size === 0) return '';
  const out: string[] = ['--- expected (etcd)', '+++ actual'];
  let last = -1;
  for (let idx = 0; idx < ops.length; idx++) {
    if (!keep.has(idx)) continue;
    if (idx !== last + 1) out.push(`@@ expected line ${ops[idx]!.tag === '+' ? '?' : ops[idx]!.line} @@`);
    out.push(`${ops[idx]!.tag} ${ops[idx]!.text}`);
    last = idx;
  }
  return out.join('\n');
}
