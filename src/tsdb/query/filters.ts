// Tag value filters (OpenTSDB 2.2+ TagVFilter) and the selection of series by
// them. A series is selected when it has every filtered tag key and each value
// passes every filter on its key (filters on one key are ANDed). Group-by keys
// are the keys of filters with groupBy set.
import { TsraftError, rethrowIfBug } from '../../errors.js';
import type { Tags } from '../types.js';
import type { FilterType, TagFilterSpec } from './types.js';

export const FILTER_TYPES: readonly FilterType[] = [
  'literal_or',
  'iliteral_or',
  'not_literal_or',
  'not_iliteral_or',
  'wildcard',
  'iwildcard',
  'regexp',
];

/** Longest filter expression accepted (a regexp runs against every candidate value). */
export const MAX_FILTER_CHARS = 4096;

function invalid(message: string, part: string): TsraftError {
  return new TsraftError('TSR_ERR_INVALID_QUERY', message, { details: { part } });
}

export function isFilterType(name: string): name is FilterType {
  return (FILTER_TYPES as readonly string[]).includes(name);
}

/** Builds a filter from its parts (JSON `filters[]` entries); validates it. */
export function makeFilterSpec(type: string, tagk: string, filter: string, groupBy: boolean): TagFilterSpec {
  const lowered = type.toLowerCase();
  if (!isFilterType(lowered)) {
    throw invalid(`Unknown filter type '${type}' on tag key '${tagk}': expected one of ${FILTER_TYPES.join(', ')}`, 'filter');
  }
  const spec: TagFilterSpec = { type: lowered, tagk, filter, groupBy };
  compileFilter(spec);
  return spec;
}

/**
 * Reads a tag value as written in legacy `tags` or in `m=` braces, the way
 * OpenTSDB's TagVFilter.getFilter does: `*` matches any value, `type(expr)`
 * names a filter, a value containing `*` is a case-insensitive wildcard, and
 * anything else is a literal_or (so `a|b` means either value).
 */
export function filterFromTagValue(tagk: string, value: string, groupBy: boolean): TagFilterSpec {
  if (tagk === '') throw invalid(`Empty tag key in '${tagk}=${value}'`, 'filter');
  if (value === '') throw invalid(`Empty filter for tag key '${tagk}'`, 'filter');
  if (value === '*') return makeFilterSpec('wildcard', tagk, '*', groupBy);
  const paren = value.indexOf('(');
  if (paren > -1) {
    if (!value.endsWith(')')) throw invalid(`Filter for tag key '${tagk}' must end with ')': ${value}`, 'filter');
    return makeFilterSpec(value.slice(0, paren), tagk, value.slice(paren + 1, -1), groupBy);
  }
  if (value.includes('*')) return makeFilterSpec('iwildcard', tagk, value, groupBy);
  return makeFilterSpec('literal_or', tagk, value, groupBy);
}

export interface CompiledFilter {
  readonly spec: TagFilterSpec;
  /** Whether a present tag value passes (a missing key never passes). */
  matchValue(value: string): boolean;
}

export function compileFilter(spec: TagFilterSpec): CompiledFilter {
  const { type, tagk, filter } = spec;
  if (tagk === '') throw invalid('A filter has an empty tag key', 'filter');
  if (filter === '') throw invalid(`Empty ${type} filter for tag key '${tagk}'`, 'filter');
  if (filter.length > MAX_FILTER_CHARS) throw invalid(`The ${type} filter for tag key '${tagk}' is longer than ${MAX_FILTER_CHARS} characters`, 'filter');
  switch (type) {
    case 'literal_or':
    case 'iliteral_or':
    case 'not_literal_or':
    case 'not_iliteral_or': {
      if (filter === '|') throw invalid(`The ${type} filter for tag key '${tagk}' must contain more than just a pipe`, 'filter');
      const insensitive = type === 'iliteral_or' || type === 'not_iliteral_or';
      const negate = type.startsWith('not_');
      const literals = new Set(filter.split('|').map((v) => (insensitive ? v.toLowerCase() : v)));
      return {
        spec,
        matchValue: (value) => literals.has(insensitive ? value.toLowerCase() : value) !== negate,
      };
    }
    case 'wildcard':
    case 'iwildcard': {
      if (!filter.includes('*')) throw invalid(`The ${type} filter for tag key '${tagk}' must contain an asterisk: ${filter}`, 'filter');
      const insensitive = type === 'iwildcard';
      const pattern = insensitive ? filter.toLowerCase() : filter;
      const re = new RegExp('^' + pattern.split('*').map(escapeRegExp).join('.*') + '$', 's');
      return { spec, matchValue: (value) => re.test(insensitive ? value.toLowerCase() : value) };
    }
    case 'regexp': {
      let re: RegExp;
      try {
        re = new RegExp(filter);
      } catch (e) {
        rethrowIfBug(e);
        throw invalid(`Invalid regular expression for tag key '${tagk}': ${filter}`, 'filter');
      }
      // Unanchored like Java's Matcher.find().
      return { spec, matchValue: (value) => re.test(value) };
    }
  }
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Selects series of one sub query and computes their group key. */
export class SeriesSelector {
  private readonly filters: CompiledFilter[];
  /** Tag keys whose values split the output into groups, sorted. */
  readonly groupByKeys: string[];
  private readonly filteredKeys: string[];

  constructor(specs: readonly TagFilterSpec[], private readonly explicitTags: boolean) {
    this.filters = specs.map(compileFilter);
    this.groupByKeys = [...new Set(specs.filter((f) => f.groupBy).map((f) => f.tagk))].sort();
    this.filteredKeys = [...new Set(specs.map((f) => f.tagk))].sort();
  }

  matches(tags: Tags): boolean {
    for (const f of this.filters) {
      const value = tags[f.spec.tagk];
      if (value === undefined || !Object.hasOwn(tags, f.spec.tagk) || !f.matchValue(value)) return false;
    }
    if (this.explicitTags) {
      const keys = Object.keys(tags);
      if (keys.length !== this.filteredKeys.length) return false;
      for (const k of this.filteredKeys) if (!Object.hasOwn(tags, k)) return false;
    }
    return true;
  }

  /** A string that is equal for series of the same group (values of groupByKeys). */
  groupKey(tags: Tags): string {
    let key = '';
    for (const k of this.groupByKeys) key += tags[k]! + '\u0000';
    return key;
  }
}
