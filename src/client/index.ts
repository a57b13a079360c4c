// The tsraft client library (import from 'tsraft/client' or 'tsraft').
export { connect, TsraftClient } from './client.js';
export type { ConnectOptions, LastPointResult, PointError, PutResult, QueryOptions, QueryResult, ReadRequestOptions, RequestOptions, SubscribeSpec } from './client.js';
export type { Point, PutColumns } from './points.js';
export { toColumns } from './points.js';
export type { LivePoint, LiveSubscription } from './subscription.js';
export { toWebSocketUrl } from './endpoints.js';
export { TsraftError, isTsraftError, ERROR_CODES, type ErrorCode } from '../errors.js';
