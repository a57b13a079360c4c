// The time-series room's public surface: the state machine every replica
// applies, the leader-side helpers that build its log entries (validation,
// write batches, commands), the series index's search functions, series
// blocks and the OpenTSDB query engine.
export { TimeSeriesStateMachine, DEFAULT_STATE_MACHINE_OPTIONS, SNAPSHOT_FORMAT_VERSION } from './state-machine.js';
export type { ApplyResult, StateMachineStats, TimeSeriesStateMachineOptions } from './state-machine.js';
export { COMMAND_TYPE, COMMAND_VERSION, MAX_CLIENT_ID_BYTES, decodeCommand, encodeCommand } from './command.js';
export type { Command, NoopCommand, RetentionCommand, WriteCommand } from './command.js';
export { DEFAULT_WRITE_BATCH_LIMITS, MAX_SERIES_KEY_BYTES, WRITE_BATCH_VERSION, WriteBatchBuilder, decodeWriteBatch } from './write-batch.js';
export type { DecodedWriteBatch, WriteBatchLimits } from './write-batch.js';
export {
  MAX_NAME_LENGTH,
  MAX_TAGS_PER_POINT,
  checkName,
  parseSeriesKey,
  parseTimestampMs,
  parseValue,
  seriesKeyOf,
  validatePoint,
  validatePoints,
} from './validate.js';
export type { InvalidPointReason, PointError, PointField, PointSink, RawPoint, ValidPoint, ValidatedRequest } from './validate.js';
export { ClientSessions, DEFAULT_SESSION_LIMITS } from './sessions.js';
export type { SessionDecision, SessionLimits, WriteOutcome } from './sessions.js';
export { SeriesIndex } from './series-index.js';
export type { LookupQuery, LookupResult, LookupTag, SuggestType } from './series-index.js';
export { SeriesData } from './series-data.js';
export type { SeriesDataOptions } from './series-data.js';
export { emptyColumns, exactValue } from './points.js';
export type { PointColumns } from './points.js';
export type { SeriesInfo, SeriesSource, Tags } from './types.js';
export * from './query/index.js';
