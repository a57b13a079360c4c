// Structural validation of incoming messages. step() receives whatever the
// network delivered; anything that is not a well-formed Message is dropped
// here, before any handler could trip over it.
import type { Entry, Message, SnapshotMeta } from './types.js';

function isIndex(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function isId(v: unknown): v is string {
  return typeof v === 'string' && v.length > 0 && v.length <= 255;
}

function isBool(v: unknown): v is boolean {
  return typeof v === 'boolean';
}

function isEntry(v: unknown): v is Entry {
  if (typeof v !== 'object' || v === null) return false;
  const e = v as Record<string, unknown>;
  return isIndex(e.index) && e.index > 0 && isIndex(e.term) && (e.kind === 'normal' || e.kind === 'config') && e.data instanceof Uint8Array;
}

function isIdList(v: unknown): v is string[] {
  return Array.isArray(v) && v.every(isId);
}

function isSnapshotMeta(v: unknown): v is SnapshotMeta {
  if (typeof v !== 'object' || v === null) return false;
  const m = v as Record<string, unknown>;
  if (!isIndex(m.index) || !isIndex(m.term) || !isIndex(m.sizeBytes)) return false;
  const c = m.config as Record<string, unknown> | null;
  if (typeof c !== 'object' || c === null) return false;
  if (!isIdList(c.voters) || !isIdList(c.learners) || c.voters.length === 0) return false;
  if (typeof c.contexts !== 'object' || c.contexts === null) return false;
  return Object.values(c.contexts).every((x) => typeof x === 'string');
}

/** Returns the message typed when it is well formed, else undefined. */
export function validateMessage(raw: unknown): Message | undefined {
  if (typeof raw !== 'object' || raw === null) return undefined;
  const m = raw as Record<string, unknown>;
  if (!isId(m.from) || !isId(m.to) || !isIndex(m.term)) return undefined;
  switch (m.type) {
    case 'prevote':
    case 'vote':
      if (!isIndex(m.lastIndex) || !isIndex(m.lastTerm)) return undefined;
      if (m.type === 'vote' && !isBool(m.transfer)) return undefined;
      return raw as Message;
    case 'prevote-resp':
    case 'vote-resp':
      return isBool(m.reject) ? (raw as Message) : undefined;
    case 'append': {
      if (!isIndex(m.prevIndex) || !isIndex(m.prevTerm) || !isIndex(m.commit)) return undefined;
      if (!Array.isArray(m.entries) || !m.entries.every(isEntry)) return undefined;
      return raw as Message;
    }
    case 'append-resp':
      if (!isBool(m.reject) || !isIndex(m.index) || !isIndex(m.hintIndex) || !isIndex(m.hintTerm)) return undefined;
      return raw as Message;
    case 'heartbeat':
      return isIndex(m.commit) && isIndex(m.readRound) ? (raw as Message) : undefined;
    case 'heartbeat-resp':
      return isIndex(m.readRound) ? (raw as Message) : undefined;
    case 'snapshot':
      if (!isSnapshotMeta(m.meta) || !isIndex(m.offset) || !isIndex(m.length) || !isBool(m.done)) return undefined;
      if (!(m.data instanceof Uint8Array) || m.data.length !== m.length) return undefined;
      if (m.offset + m.length > m.meta.sizeBytes) return undefined;
      return raw as Message;
    case 'snapshot-resp':
      if (!isIndex(m.snapshotIndex) || !isIndex(m.nextOffset) || !isBool(m.done) || !isBool(m.reject)) return undefined;
      return raw as Message;
    case 'timeout-now':
      return raw as Message;
    case 'read-index':
      return isId(m.requestId) ? (raw as Message) : undefined;
    case 'read-index-resp':
      return isId(m.requestId) && isIndex(m.index) && isBool(m.reject) ? (raw as Message) : undefined;
    default:
      return undefined;
  }
}
