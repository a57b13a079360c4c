// Writes query results as OpenTSDB 2.4's /api/query JSON
// (HttpJsonSerializer.formatQueryAsyncV1):
//   [{"metric":..,"tags":{..},"aggregateTags":[..],["query":{..},]"dps":{"<ts>":<v>,..}},..]
// dps keys are seconds (ts / 1000, truncated) unless msResolution; with the
// `arrays` option dps is [[ts, v], ..]. Integers print as int64 literals
// (exact, from bigints), doubles as Java's Double.toString (1.0, 1.5E-4,
// 1.0E7), NaN and infinities as Jackson writes them by default ("NaN",
// quoted), and empty intervals under the null fill policy as null.
import type { DataPointValue, QueryResultGroup, SubQuery, TagFilterSpec, TsdbQuery } from './types.js';

export interface RenderOptions {
  /** dps as an array of [timestamp, value] pairs (OpenTSDB's `arrays` parameter). */
  arrays?: boolean;
}

/** Java's Double.toString (JDK 19+, shortest round-trip digits). */
export function formatJavaDouble(d: number): string {
  if (d !== d) return 'NaN';
  if (d === Number.POSITIVE_INFINITY) return 'Infinity';
  if (d === Number.NEGATIVE_INFINITY) return '-Infinity';
  if (d === 0) return Object.is(d, -0) ? '-0.0' : '0.0';
  const sign = d < 0 ? '-' : '';
  const abs = Math.abs(d);
  let [mantissa, expText] = abs.toExponential().split('e') as [string, string];
  if (mantissa.length === 1) {
    // Java picks the closest decimal among those of 1 or 2 digits that read
    // back as d (Double.MIN_VALUE prints 4.9E-324, not 5.0E-324).
    const two = abs.toExponential(1);
    if (Number(two) === abs) [mantissa, expText] = two.split('e') as [string, string];
  }
  const digits = mantissa.replace('.', '').replace(/(?<=.)0+$/, '');
  const exp = Number(expText);
  if (abs >= 1e-3 && abs < 1e7) {
    if (exp >= 0) {
      const intPart = digits.slice(0, exp + 1).padEnd(exp + 1, '0');
      const fraction = digits.slice(exp + 1);
      return `${sign}${intPart}.${fraction === '' ? '0' : fraction}`;
    }
    return `${sign}0.${'0'.repeat(-exp - 1)}${digits}`;
  }
  const fraction = digits.slice(1);
  return `${sign}${digits[0]}.${fraction === '' ? '0' : fraction}E${exp}`;
}

/** One value as Jackson writes it in OpenTSDB's output. */
export function formatValue(value: DataPointValue): string {
  if (value === null) return 'null';
  if (typeof value === 'bigint') return value.toString();
  if (value !== value || value === Number.POSITIVE_INFINITY || value === Number.NEGATIVE_INFINITY) {
    return `"${formatJavaDouble(value)}"`;
  }
  return formatJavaDouble(value);
}

function str(s: string): string {
  return JSON.stringify(s);
}

function filterJson(f: TagFilterSpec): string {
  return `{"tagk":${str(f.tagk)},"filter":${str(f.filter)},"group_by":${f.groupBy},"type":${str(f.type)}}`;
}

/** The sub query as showQuery echoes it (the fields of OpenTSDB's TSSubQuery). */
export function renderSubQuery(sub: SubQuery): string {
  const tags = Object.keys(sub.tags)
    .sort()
    .map((k) => `${str(k)}:${str(sub.tags[k]!)}`)
    .join(',');
  const rate = sub.rateOptionsGiven
    ? `{"counter":${sub.rateOptions.counter},"counterMax":${sub.rateOptions.counterMax},"resetValue":${sub.rateOptions.resetValue},"dropResets":${sub.rateOptions.dropResets}}`
    : 'null';
  return (
    `{"aggregator":${str(sub.aggregator)},"metric":${str(sub.metric)},"tsuids":null,` +
    `"downsample":${sub.downsample === null ? 'null' : str(sub.downsample.text)},"rate":${sub.rate},` +
    `"filters":[${sub.filters.map(filterJson).join(',')}],"index":${sub.index},"tags":{${tags}},` +
    `"rateOptions":${rate},"explicitTags":${sub.explicitTags}}`
  );
}

/** Renders results exactly as OpenTSDB's /api/query JSON response. */
export function renderQueryResults(groups: readonly QueryResultGroup[], query: TsdbQuery, options: RenderOptions = {}): string {
  const parts: string[] = [];
  for (const g of groups) {
    let out = `{"metric":${str(g.metric)},"tags":{`;
    out += Object.keys(g.tags)
      .sort()
      .map((k) => `${str(k)}:${str(g.tags[k]!)}`)
      .join(',');
    out += `},"aggregateTags":[${g.aggregateTags.map(str).join(',')}]`;
    if (query.showQuery) {
      const sub = query.queries[g.queryIndex];
      if (sub !== undefined) out += `,"query":${renderSubQuery(sub)}`;
    }
    out += ',"dps":';
    const pieces: string[] = new Array<string>(g.dps.length);
    for (let i = 0; i < g.dps.length; i++) {
      const [tsMs, value] = g.dps[i]!;
      const ts = query.msResolution ? tsMs : Math.floor(tsMs / 1000);
      pieces[i] = options.arrays === true ? `[${ts},${formatValue(value)}]` : `"${ts}":${formatValue(value)}`;
    }
    out += options.arrays === true ? `[${pieces.join(',')}]` : `{${pieces.join(',')}}`;
    out += '}';
    parts.push(out);
  }
  return `[${parts.join(',')}]`;
}
