import {
  CONF_CHANGE_TRANSITION_CODES,
  CONF_CHANGE_TYPE_CODES,
  type ConfChange,
  type ConfChangeSingle,
  type ConfChangeTransition,
  type ConfChangeType,
  type NodeId,
} from '../types.js';
import type { Progress } from './progress.js';
import { checkMembership, cloneMembership, type MembershipConfig } from './tracker.js';

// Membership changes, applied when a confChange entry is APPLIED (not when appended), as in
// etcd. Both of the thesis's methods are supported:
// - one server at a time (a ConfChange with a single change, transition 'auto'): cheap, one
//   log entry, and safe because any two majorities of configurations differing by one voter
//   overlap. The known flaw of that method (thesis errata, 2015) is avoided because a leader
//   accepts a confChange proposal only once every earlier confChange is applied and it has
//   appended its own term's entry first (pendingConfIndex starts at the last index on election).
// - joint consensus for anything else (several changes, or an explicit joint transition): the
//   cluster decides with majorities of BOTH old and new voters until the joint config is left,
//   so a node can be replaced (add + remove) without passing through an even-sized config and
//   arbitrary reconfigurations stay safe.

export class ConfChangeError extends Error {
  constructor(message: string) {
    super(`invalid conf change: ${message}`);
    this.name = 'ConfChangeError';
  }
}

export function isLeaveJoint(cc: ConfChange): boolean {
  return cc.transition === 'auto' && cc.changes.length === 0;
}

/** Whether `cc` enters a joint config, and if so whether it is left automatically. */
export function entersJoint(cc: ConfChange): { joint: boolean; autoLeave: boolean } {
  if (cc.transition !== 'auto' || cc.changes.length > 1) {
    return { joint: true, autoLeave: cc.transition !== 'jointExplicit' };
  }
  return { joint: false, autoLeave: false };
}

export interface ChangeResult {
  config: MembershipConfig;
  progress: Map<NodeId, Progress>;
}

/**
 * Computes the configuration after `cc` without touching the inputs, so a proposal can be
 * validated by a dry run. Throws ConfChangeError for a change that is not allowed. The caller
 * sets each Progress's `isLearner` from the resulting config when it switches to it.
 */
export function computeConfChange(
  current: MembershipConfig,
  progress: ReadonlyMap<NodeId, Progress>,
  cc: ConfChange,
  newProgress: (isLearner: boolean) => Progress,
): ChangeResult {
  const config = cloneMembership(current);
  const prs = new Map(progress);
  const joint = config.voters[1].size > 0;

  if (isLeaveJoint(cc)) {
    if (!joint) throw new ConfChangeError("can't leave a config that is not joint");
    for (const id of config.learnersNext) {
      config.learners.add(id);
    }
    config.learnersNext.clear();
    for (const id of config.voters[1]) {
      if (!config.voters[0].has(id) && !config.learners.has(id)) prs.delete(id);
    }
    config.voters[1].clear();
    config.autoLeave = false;
  } else {
    if (joint) throw new ConfChangeError('a joint config must be left before another change');
    const { joint: enter, autoLeave } = entersJoint(cc);
    if (enter) {
      if (config.voters[0].size === 0) throw new ConfChangeError("can't make a zero-voter config joint");
      config.voters[1] = new Set(config.voters[0]);
      config.autoLeave = autoLeave;
    }
    for (const ch of cc.changes) applySingle(config, prs, ch, newProgress);
    if (config.voters[0].size === 0) throw new ConfChangeError('removed all voters');
    if (!enter) {
      let changed = 0;
      for (const id of current.voters[0]) if (!config.voters[0].has(id)) changed++;
      for (const id of config.voters[0]) if (!current.voters[0].has(id)) changed++;
      if (changed > 1) throw new ConfChangeError('more than one voter changed without joint consensus');
    }
  }
  checkMembership(config);
  // Progress must exist for exactly the members.
  for (const id of [...config.voters[0], ...config.voters[1], ...config.learners, ...config.learnersNext]) {
    if (!prs.has(id)) throw new ConfChangeError(`member ${id} has no progress`);
  }
  for (const id of prs.keys()) {
    const member = config.voters[0].has(id) || config.voters[1].has(id) || config.learners.has(id);
    if (!member) throw new ConfChangeError(`progress for non-member ${id}`);
  }
  return { config, progress: prs };
}

function applySingle(
  c: MembershipConfig,
  prs: Map<NodeId, Progress>,
  ch: ConfChangeSingle,
  newProgress: (isLearner: boolean) => Progress,
): void {
  const id = ch.nodeId;
  if (!Number.isSafeInteger(id) || id <= 0) throw new ConfChangeError(`bad node id ${id}`);
  switch (ch.type) {
    case 'addVoter': {
      c.learners.delete(id);
      c.learnersNext.delete(id);
      c.voters[0].add(id);
      if (!prs.has(id)) prs.set(id, newProgress(false));
      return;
    }
    case 'addLearner': {
      if (c.learners.has(id)) return;
      c.voters[0].delete(id);
      c.learners.delete(id);
      c.learnersNext.delete(id);
      // A voter of the outgoing half stays a voter until the joint config is left.
      if (c.voters[1].has(id)) c.learnersNext.add(id);
      else c.learners.add(id);
      if (!prs.has(id)) prs.set(id, newProgress(true));
      return;
    }
    case 'removeNode': {
      c.voters[0].delete(id);
      c.learners.delete(id);
      c.learnersNext.delete(id);
      if (!c.voters[1].has(id)) prs.delete(id);
      return;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Codec for confChange entry payloads. Layout (big-endian):
//   u8 version(=1) | u8 transition | u32 count | count × (u8 type | u32 idHigh | u32 idLow)
//   | u32 contextLength | context bytes

const TYPE_BY_CODE = new Map<number, ConfChangeType>(
  Object.entries(CONF_CHANGE_TYPE_CODES).map(([k, v]) => [v, k as ConfChangeType]),
);
const TRANSITION_BY_CODE = new Map<number, ConfChangeTransition>(
  Object.entries(CONF_CHANGE_TRANSITION_CODES).map(([k, v]) => [v, k as ConfChangeTransition]),
);

export function encodeConfChange(cc: ConfChange): Uint8Array {
  const ctx = cc.context ?? new Uint8Array(0);
  const out = new Uint8Array(1 + 1 + 4 + cc.changes.length * 9 + 4 + ctx.length);
  const view = new DataView(out.buffer);
  let o = 0;
  view.setUint8(o++, 1);
  view.setUint8(o++, CONF_CHANGE_TRANSITION_CODES[cc.transition]);
  view.setUint32(o, cc.changes.length);
  o += 4;
  for (const ch of cc.changes) {
    if (!Number.isSafeInteger(ch.nodeId) || ch.nodeId < 0) throw new ConfChangeError(`bad node id ${ch.nodeId}`);
    view.setUint8(o++, CONF_CHANGE_TYPE_CODES[ch.type]);
    view.setUint32(o, Math.floor(ch.nodeId / 2 ** 32));
    view.setUint32(o + 4, ch.nodeId % 2 ** 32);
    o += 8;
  }
  view.setUint32(o, ctx.length);
  o += 4;
  out.set(ctx, o);
  return out;
}

export function decodeConfChange(data: Uint8Array): ConfChange {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const fail = (why: string): never => {
    throw new ConfChangeError(`undecodable: ${why}`);
  };
  if (data.length < 10) fail('too short');
  let o = 0;
  if (view.getUint8(o++) !== 1) fail('unknown version');
  const transition = TRANSITION_BY_CODE.get(view.getUint8(o++)) ?? fail('unknown transition');
  const count = view.getUint32(o);
  o += 4;
  if (data.length < o + count * 9 + 4) fail('truncated changes');
  const changes: ConfChangeSingle[] = [];
  for (let i = 0; i < count; i++) {
    const type = TYPE_BY_CODE.get(view.getUint8(o++)) ?? fail('unknown change type');
    const nodeId = view.getUint32(o) * 2 ** 32 + view.getUint32(o + 4);
    o += 8;
    changes.push({ type, nodeId });
  }
  const ctxLen = view.getUint32(o);
  o += 4;
  if (data.length !== o + ctxLen) fail('bad context length');
  const cc: ConfChange = { transition, changes };
  if (ctxLen > 0) cc.context = data.slice(o, o + ctxLen);
  return cc;
}
