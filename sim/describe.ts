// One-line descriptions of Raft messages for the simulator's trace.
import type { Message } from '../src/raft/types.js';

/** A short, deterministic description of a message for the trace. */
export function describe(m: Message): string {
  const head = `${m.from}>${m.to} ${m.type} t${m.term}`;
  switch (m.type) {
    case 'append':
      return `${head} prev=${m.prevIndex}/${m.prevTerm} n=${m.entries.length} c=${m.commit}`;
    case 'append-resp':
      return `${head} ${m.reject ? 'rej' : 'ok'} i=${m.index}`;
    case 'vote':
    case 'prevote':
      return `${head} last=${m.lastIndex}/${m.lastTerm}`;
    case 'vote-resp':
    case 'prevote-resp':
      return `${head} ${m.reject ? 'rej' : 'ok'}`;
    case 'heartbeat':
      return `${head} c=${m.commit} r=${m.readRound}`;
    case 'snapshot':
      return `${head} s=${m.meta.index} off=${m.offset}+${m.length}`;
    case 'snapshot-resp':
      return `${head} s=${m.snapshotIndex} next=${m.nextOffset}${m.done ? ' done' : ''}${m.reject ? ' rej' : ''}`;
    case 'read-index-resp':
      return `${head} i=${m.index}${m.reject ? ' rej' : ''}`;
    default:
      return head;
  }
}
