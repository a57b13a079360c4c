// The URL form of a query: `start`, `end`, `timezone` and one or more
// `m=` sub queries, as OpenTSDB's /api/query and /q accept them:
//
//   m=<agg>:[<interval>-<agg>[-<fill>]:][rate[{counter[,<max>[,<reset>]]}]:][explicit_tags:]<metric>[{<group-by filters>}][{<filters>}]
//
// e.g. sum:1m-avg:rate{counter,,1000}:sys.cpu.user{host=*}{dc=literal_or(a|b)}
// The first braces hold group-by filters (legacy tag syntax: `*`, `a|b`,
// `web*`, or `type(expr)`), the second braces non-grouping filters.
// Colons, commas and braces inside parentheses belong to the filter, so
// `regexp(web[0-9]{2})` works (OpenTSDB would split it).
import { filterFromTagValue } from './filters.js';
import { parseInt64 } from './int64.js';
import { buildQuery, emptyTagMap, invalidQuery, makeSubQuery, MAX_SUB_QUERIES, readBoolean, type QueryParseOptions } from './parse.js';
import { defaultRateOptions } from './rate.js';
import type { RateOptions, SubQuery, TagFilterSpec, TsdbQuery } from './types.js';

/** Longest m= string accepted. */
export const MAX_M_CHARS = 8192;

/** Splits on `sep` where not inside (), {} or []. */
function splitTopLevel(text: string, sep: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '(' || c === '{' || c === '[') depth++;
    else if ((c === ')' || c === '}' || c === ']') && depth > 0) depth--;
    else if (c === sep && depth === 0) {
      out.push(text.slice(start, i));
      start = i + 1;
    }
  }
  out.push(text.slice(start));
  return out;
}

/** Parses one `m=` value into a sub query at position `index`. */
export function parseMetricQuery(m: string, index: number): SubQuery {
  if (m === '') throw invalidQuery('The m= query string was empty', 'm');
  if (m.length > MAX_M_CHARS) throw invalidQuery(`The m= query string is longer than ${MAX_M_CHARS} characters`, 'm');
  const parts = splitTopLevel(m, ':');
  if (parts.length < 2 || parts.length > 5) {
    throw invalidQuery(`Invalid parameter m=${m} (${parts.length < 2 ? 'not enough' : 'too many'} :-separated parts)`, 'm');
  }
  let downsample: string | undefined;
  let rate = false;
  let rateOptions = defaultRateOptions();
  let rateOptionsGiven = false;
  let explicitTags = false;
  for (const part of parts.slice(1, -1)) {
    const lower = part.toLowerCase();
    if (lower.startsWith('rate')) {
      rate = true;
      if (part.length > 4) {
        rateOptions = parseRateSpec(part);
        rateOptionsGiven = true;
      }
    } else if (/^[0-9]/.test(part)) {
      if (downsample !== undefined) throw invalidQuery(`Invalid parameter m=${m}: more than one downsample`, 'downsample');
      downsample = part;
    } else if (lower === 'explicit_tags') {
      explicitTags = true;
    } else {
      throw invalidQuery(`Invalid parameter m=${m}: unknown part '${part}' (expected a downsample, rate or explicit_tags)`, 'm');
    }
  }
  const { metric, filters, tags } = parseMetricAndFilters(parts[parts.length - 1]!);
  return makeSubQuery({
    index,
    aggregator: parts[0],
    metric,
    downsample,
    rate,
    rateOptions,
    rateOptionsGiven,
    filters,
    tags,
    explicitTags,
  });
}

/** `rate{counter[,max[,reset]]}` or `rate{dropcounter,...}` (QueryRpc.parseRateOptions). */
export function parseRateSpec(spec: string): RateOptions {
  const options = defaultRateOptions();
  if (!/^rate\{.*\}$/is.test(spec)) throw invalidQuery(`Invalid rate options specification: ${spec}`, 'rate');
  const fields = spec.slice(5, -1).split(',');
  if (fields.length > 3) {
    throw invalidQuery(`Incorrect number of values in rate options specification ${spec}: must be counter[,counter max value,reset value]`, 'rate');
  }
  const kind = fields[0]!.toLowerCase();
  if (kind !== 'counter' && kind !== 'dropcounter' && kind !== '') {
    throw invalidQuery(`Invalid rate options specification ${spec}: expected counter or dropcounter`, 'rate');
  }
  options.counter = kind.endsWith('counter');
  options.dropResets = kind === 'dropcounter';
  const max = fields[1] ?? '';
  if (max !== '') {
    const parsed = parseInt64(max);
    if (parsed === null) throw invalidQuery(`Max value of counter was not an int64, received '${max}'`, 'rate');
    options.counterMax = parsed;
  }
  const reset = fields[2] ?? '';
  if (reset !== '') {
    const parsed = parseInt64(reset);
    if (parsed === null) throw invalidQuery(`Reset value of counter was not an int64, received '${reset}'`, 'rate');
    options.resetValue = parsed;
  }
  return options;
}

/** Splits `metric{...}{...}` into the metric, its filters and the legacy tag map. */
export function parseMetricAndFilters(text: string): { metric: string; filters: TagFilterSpec[]; tags: Record<string, string> } {
  const curly = text.indexOf('{');
  if (curly < 0) return { metric: text, filters: [], tags: emptyTagMap() };
  const metric = text.slice(0, curly);
  const groups: string[] = [];
  let pos = curly;
  while (pos < text.length) {
    if (text[pos] !== '{') throw invalidQuery(`Invalid metric '${text}': expected '{' at offset ${pos}`, 'm');
    const close = matchingBrace(text, pos);
    if (close < 0) throw invalidQuery(`Missing '}' at the end of: ${text}`, 'm');
    groups.push(text.slice(pos + 1, close));
    pos = close + 1;
  }
  if (groups.length > 2) throw invalidQuery(`Invalid metric '${text}': at most two {} groups (group-by filters, then filters)`, 'm');
  const filters: TagFilterSpec[] = [];
  const tags = emptyTagMap();
  groups.forEach((group, g) => {
    if (group === '') return;
    for (const item of splitTopLevel(group, ',')) {
      const eq = item.indexOf('=');
      if (eq <= 0 || eq === item.length - 1) throw invalidQuery(`Invalid tag '${item}' in '${text}': expected key=value`, 'm');
      const tagk = item.slice(0, eq);
      const value = item.slice(eq + 1);
      const spec = filterFromTagValue(tagk, value, g === 0);
      if (g === 0) {
        tags[tagk] = value;
        const same = filters.find((f) => f.type === spec.type && f.tagk === spec.tagk && f.filter === spec.filter);
        if (same !== undefined) {
          same.groupBy = true;
          continue;
        }
      }
      filters.push(spec);
    }
  });
  return { metric, filters, tags };
}

function matchingBrace(text: string, open: number): number {
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    const c = text[i];
    if (c === '{' || c === '(' || c === '[') depth++;
    else if (c === '}' || c === ')' || c === ']') {
      depth--;
      if (depth === 0) return c === '}' ? i : -1;
    }
  }
  return -1;
}

/**
 * Parses URL query parameters (start, end, timezone, m, ms / msResolution,
 * show_query, no_annotations); a flag is true when present, unless its value
 * is `false` or `0`.
 * Other parameters (arrays, jsonp, nocache, ...) are left to the caller.
 */
export function parseQueryParams(params: Iterable<readonly [string, string]>, options: QueryParseOptions): TsdbQuery {
  const single = new Map<string, string>();
  const ms: string[] = [];
  for (const [key, value] of params) {
    if (key === 'm') ms.push(value);
    else if (key === 'tsuid' || key === 'tsuids') throw invalidQuery('tsuid queries are not supported, query by metric (m=)', 'tsuid');
    else if (!single.has(key)) single.set(key, value);
  }
  // OpenTSDB only checks that a flag is present; tsraft also reads an explicit false.
  const flag = (...names: string[]): boolean =>
    names.some((n) => {
      if (!single.has(n)) return false;
      const value = single.get(n)!.toLowerCase();
      if (value === '' || value === '1') return true;
      if (value === '0') return false;
      return readBoolean(value, n);
    });
  if (ms.length === 0) throw invalidQuery('Missing sub queries: give at least one m= parameter', 'm');
  if (ms.length > MAX_SUB_QUERIES) throw invalidQuery(`Too many sub queries: ${ms.length} > ${MAX_SUB_QUERIES}`, 'm');
  const queries = ms.map((m, i) => parseMetricQuery(m, i));
  return buildQuery(
    {
      start: single.get('start'),
      end: single.get('end'),
      timezone: single.get('timezone') ?? single.get('tz'),
      msResolution: flag('ms', 'msResolution'),
      showQuery: flag('show_query', 'showQuery'),
      noAnnotations: flag('no_annotations', 'noAnnotations'),
    },
    queries,
    options,
  );
}
