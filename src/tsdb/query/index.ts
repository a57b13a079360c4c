// The OpenTSDB /api/query engine: parse (JSON body or URL with m=), execute
// against a SeriesSource, render OpenTSDB's JSON. See docs/query.md.
export { executeQuery, scanWindowMs, type ExecuteOptions } from './engine.js';
export { parseQueryBody, parseQueryJson, type QueryParseOptions } from './parse.js';
export { parseMetricQuery, parseQueryParams } from './mquery.js';
export { parseJsonExact, type JsonValue } from './json.js';
export { parseQueryTime, parseDurationMs } from './time.js';
export { renderQueryResults, formatJavaDouble, formatValue, type RenderOptions } from './render.js';
export { AGGREGATOR_NAMES } from './aggregators.js';
export { FILTER_TYPES } from './filters.js';
export * from './types.js';
