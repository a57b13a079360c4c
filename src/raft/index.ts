export { RaftNode } from './raft.js';
export type { ProposeResult, RaftResult } from './raft.js';
export { encodeConfigChange, decodeConfigChange, applyConfigChange, configChangeProblem } from './config-change.js';
export { validateMessage } from './validate-message.js';
export * from './types.js';
export { bootstrapLog, EMPTY_CONFIG } from './bootstrap.js';
