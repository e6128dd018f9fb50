// A fast path for zod's safeParse on the plain schemas that validate most calls (objects of
// strings and integers with length, pattern and range checks): compiled once per schema into
// closures that check a value and build zod's output without zod's per-parse machinery (a
// payload, an issues array, a result object per node).
//
// It never decides a failure: when the fast path does not accept a value, zod parses it, so
// error issues (and anything the fast path is unsure of) are zod's own. It accepts only what zod
// would accept, with the output zod would give: a schema using anything it does not model exactly
// (optional keys, defaults, transforms, refinements, coercion, non-strip objects…) gets no fast
// path at all.
import type { z } from 'zod';

/** The output zod would give, or NO when the fast path cannot vouch for the value. */
type Check = (value: unknown) => unknown;
const NO: unique symbol = Symbol('fast-parse: not accepted');

const compiled = new WeakMap<z.ZodType, Check | null>();

interface Def {
  type: string;
  checks?: Array<{ _zod: { def: CheckDef } }>;
  coerce?: boolean;
  shape?: Record<string, z.ZodType>;
  catchall?: unknown;
  options?: z.ZodType[];
  innerType?: z.ZodType;
  check?: string;
  format?: string;
}

interface CheckDef {
  check: string;
  format?: string;
  pattern?: RegExp;
  minimum?: number;
  maximum?: number;
  value?: number | bigint;
  inclusive?: boolean;
  abort?: boolean;
}

function defOf(schema: z.ZodType): Def {
  return (schema as unknown as { _zod: { def: Def } })._zod.def;
}

/**
 * zod's `safeParse(value)` result when the fast path accepts the value; undefined means "ask zod"
 * (the value may still be valid).
 */
export function fastParse<S extends z.ZodType>(schema: S, value: unknown): { data: z.output<S> } | undefined {
  let check = compiled.get(schema);
  if (check === undefined) {
    check = compile(schema);
    compiled.set(schema, check);
  }
  if (check === null) return undefined;
  const out = check(value);
  return out === NO ? undefined : { data: out as z.output<S> };
}

/** safeParse with the fast path first: the same result for every input. */
export function parseWithFastPath<S extends z.ZodType>(schema: S, value: unknown): z.ZodSafeParseResult<z.output<S>> {
  const fast = fastParse(schema, value);
  if (fast !== undefined) return { success: true, data: fast.data } as z.ZodSafeParseResult<z.output<S>>;
  return schema.safeParse(value) as z.ZodSafeParseResult<z.output<S>>;
}

function compile(schema: z.ZodType): Check | null {
  try {
    return node(schema);
  } catch {
    return null;
  }
}

/** Throws (→ no fast path) on anything not modelled exactly. */
function node(schema: z.ZodType): Check {
  const def = defOf(schema);
  if (def.coerce === true) throw new Error('coerce');
  // A format schema (z.iso.datetime(), z.email(), z.int()…) is a check itself; only z.int()'s is modelled.
  if (def.check !== undefined && def.type !== 'number') throw new Error(`format ${def.check}`);
  switch (def.type) {
    case 'string':
      return stringCheck(def);
    case 'number':
      return numberCheck(def);
    case 'boolean':
      if (def.checks !== undefined && def.checks.length > 0) throw new Error('boolean checks');
      return (v) => (typeof v === 'boolean' ? v : NO);
    case 'nullable': {
      if (def.checks !== undefined && def.checks.length > 0) throw new Error('nullable checks');
      const inner = node(def.innerType!);
      return (v) => (v === null ? null : inner(v));
    }
    case 'union': {
      if (def.checks !== undefined && def.checks.length > 0) throw new Error('union checks');
      const options = def.options!.map(node);
      // zod answers with the first option that accepts the value.
      return (v) => {
        for (const option of options) {
          const out = option(v);
          if (out !== NO) return out;
        }
        return NO;
      };
    }
    case 'object':
      return objectCheck(def);
    default:
      throw new Error(`type ${def.type}`);
  }
}

/**
 * A check's `when` (length checks carry one) can only make zod skip it, i.e. accept more; the
 * fast path always applies it, so it is at most stricter, and what it refuses zod decides.
 */
function checksOf(def: Def): CheckDef[] {
  return (def.checks ?? []).map((c) => c._zod.def);
}

function stringCheck(def: Def): Check {
  let min = 0;
  let max = Infinity;
  const patterns: RegExp[] = [];
  for (const c of checksOf(def)) {
    if (c.check === 'min_length') min = Math.max(min, c.minimum!);
    else if (c.check === 'max_length') max = Math.min(max, c.maximum!);
    else if (c.check === 'string_format' && c.format === 'regex' && c.pattern instanceof RegExp) patterns.push(c.pattern);
    else throw new Error(`string check ${c.check}/${c.format}`);
  }
  return (v) => {
    if (typeof v !== 'string' || v.length < min || v.length > max) return NO;
    for (const p of patterns) {
      p.lastIndex = 0;
      if (!p.test(v)) return NO;
    }
    return v;
  };
}

function numberCheck(def: Def): Check {
  let safeInt = false;
  let lo = -Infinity;
  let loInclusive = true;
  let hi = Infinity;
  let hiInclusive = true;
  // z.int() is itself a format check: its def carries it at the top.
  const all: CheckDef[] = [...(def.check !== undefined ? [def as unknown as CheckDef] : []), ...checksOf(def)];
  for (const c of all) {
    if (c.check === 'number_format' && c.format === 'safeint') safeInt = true;
    else if (c.check === 'greater_than' && typeof c.value === 'number') {
      if (c.value > lo || (c.value === lo && !c.inclusive)) {
        lo = c.value;
        loInclusive = c.inclusive === true;
      }
    } else if (c.check === 'less_than' && typeof c.value === 'number') {
      if (c.value < hi || (c.value === hi && !c.inclusive)) {
        hi = c.value;
        hiInclusive = c.inclusive === true;
      }
    } else throw new Error(`number check ${c.check}/${c.format}`);
  }
  return (v) => {
    if (typeof v !== 'number' || !Number.isFinite(v)) return NO;
    if (safeInt && !Number.isSafeInteger(v)) return NO;
    if (loInclusive ? v < lo : v <= lo) return NO;
    if (hiInclusive ? v > hi : v >= hi) return NO;
    return v;
  };
}

function objectCheck(def: Def): Check {
  if (def.catchall !== undefined) throw new Error('catchall');
  if (def.checks !== undefined && def.checks.length > 0) throw new Error('object checks');
  const keys = Object.keys(def.shape!);
  const fields = keys.map((k) => node(def.shape![k]!));
  return (v) => {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return NO;
    const input = v as Record<string, unknown>;
    const out: Record<string, unknown> = {};
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]!;
      // Every modelled field is required and never undefined: a missing key is zod's to report.
      const value = fields[i]!(input[key]);
      if (value === NO) return NO;
      out[key] = value;
    }
    return out;
  };
}
