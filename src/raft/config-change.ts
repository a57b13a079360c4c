// Membership: encoding of config-change entries and applying them to a
// ConfigState. Changes are one node at a time (thesis §4.1): any majority of
// the old and of the new configuration overlap, provided only one change is
// in flight and a new leader first commits an entry of its own term (the fix
// for the single-server-change bug described on raft-dev in 2015).
//
// Entry layout (docs/raft.md): [version=1][op][u16 id length][id utf8]
// [u16 context length][context utf8].
import { assert } from '../errors.js';
import type { ConfigChange, ConfigChangeOp, ConfigState, NodeId } from './types.js';

const FORMAT_VERSION = 1;
const OPS: readonly ConfigChangeOp[] = ['add-learner', 'add-voter', 'remove'];
const MAX_ID_BYTES = 255;
const MAX_CONTEXT_BYTES = 4096;

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: true });

export function encodeConfigChange(change: ConfigChange): Uint8Array {
  const id = utf8Encoder.encode(change.nodeId);
  const ctx = utf8Encoder.encode(change.context);
  assert(id.length > 0 && id.length <= MAX_ID_BYTES, `config change: node id must be 1..${MAX_ID_BYTES} bytes`);
  assert(ctx.length <= MAX_CONTEXT_BYTES, `config change: context must be ≤ ${MAX_CONTEXT_BYTES} bytes`);
  const out = new Uint8Array(2 + 2 + id.length + 2 + ctx.length);
  const view = new DataView(out.buffer);
  out[0] = FORMAT_VERSION;
  out[1] = OPS.indexOf(change.op);
  view.setUint16(2, id.length);
  out.set(id, 4);
  view.setUint16(4 + id.length, ctx.length);
  out.set(ctx, 6 + id.length);
  return out;
}

/** Decodes a config-change entry; undefined when the bytes are malformed. */
export function decodeConfigChange(data: Uint8Array): ConfigChange | undefined {
  if (data.length < 6 || data[0] !== FORMAT_VERSION) return undefined;
  const op = OPS[data[1]!];
  if (op === undefined) return undefined;
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const idLen = view.getUint16(2);
  if (4 + idLen + 2 > data.length) return undefined;
  const ctxLen = view.getUint16(4 + idLen);
  if (6 + idLen + ctxLen !== data.length) return undefined;
  try {
    const nodeId = utf8Decoder.decode(data.subarray(4, 4 + idLen));
    const context = utf8Decoder.decode(data.subarray(6 + idLen, 6 + idLen + ctxLen));
    if (nodeId.length === 0) return undefined;
    return { op, nodeId, context };
  } catch {
    return undefined;
  }
}

/** Why `change` cannot be applied to `config`, or null when it can. */
export function configChangeProblem(config: ConfigState, change: ConfigChange): string | null {
  const isVoter = config.voters.includes(change.nodeId);
  const isLearner = config.learners.includes(change.nodeId);
  switch (change.op) {
    case 'add-learner':
      if (isVoter) return `${change.nodeId} is already a voter`;
      if (isLearner) return `${change.nodeId} is already a learner`;
      return null;
    case 'add-voter':
      if (isVoter) return `${change.nodeId} is already a voter`;
      return null;
    case 'remove':
      if (!isVoter && !isLearner) return `${change.nodeId} is not a member`;
      if (isVoter && config.voters.length === 1) return `cannot remove the last voter ${change.nodeId}`;
      return null;
  }
}

/** The configuration after `change`. Invalid changes leave it unchanged (they
 *  can reach the log only through a leader that validated them against the
 *  same configuration, so this is defence in depth). */
export function applyConfigChange(config: ConfigState, change: ConfigChange): ConfigState {
  if (configChangeProblem(config, change) !== null) return config;
  const voters = config.voters.filter((id) => id !== change.nodeId);
  const learners = config.learners.filter((id) => id !== change.nodeId);
  const contexts: Record<NodeId, string> = { ...config.contexts };
  if (change.op === 'remove') {
    delete contexts[change.nodeId];
  } else {
    (change.op === 'add-voter' ? voters : learners).push(change.nodeId);
    // Promotion keeps the context given when the learner was added, unless a new one is given.
    if (change.context !== '' || contexts[change.nodeId] === undefined) contexts[change.nodeId] = change.context;
  }
  voters.sort();
  learners.sort();
  const next = { voters, learners, contexts };
  assert(next.voters.length > 0, 'config: no voters left');
  return next;
}

export function cloneConfig(config: ConfigState): ConfigState {
  return { voters: [...config.voters].sort(), learners: [...config.learners].sort(), contexts: { ...config.contexts } };
}

export function isMember(config: ConfigState, id: NodeId): boolean {
  return config.voters.includes(id) || config.learners.includes(id);
}
