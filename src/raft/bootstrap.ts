// The first log of a new cluster. Like etcd, membership starts as committed
// config entries at the head of the log (term 1), identical on every founding
// node, so that any node that replays the log from index 1 (for example one
// that joins later and receives the whole log) reconstructs the membership.
import { encodeConfigChange } from './config-change.js';
import type { ConfigState, Entry, HardState } from './types.js';

export function bootstrapLog(config: ConfigState): { hardState: HardState; entries: Entry[] } {
  const entries: Entry[] = [];
  const add = (nodeId: string, op: 'add-voter' | 'add-learner'): void => {
    entries.push({
      index: entries.length + 1,
      term: 1,
      kind: 'config',
      data: encodeConfigChange({ op, nodeId, context: config.contexts[nodeId] ?? '' }),
    });
  };
  for (const id of [...config.voters].sort()) add(id, 'add-voter');
  for (const id of [...config.learners].sort()) add(id, 'add-learner');
  return { hardState: { term: 1, vote: null, commit: entries.length }, entries };
}

export const EMPTY_CONFIG: ConfigState = Object.freeze({ voters: [], learners: [], contexts: {} }) as ConfigState;
