// Live subscriptions: after each committed write entry is applied, the points
// it stored that match a subscription's metric and tag filters are pushed to
// that subscription's sink. Work is done only while someone subscribes: the
// batch is decoded a second time here, never on the apply path otherwise.
//
// Bounded: at most maxSubscriptions per hub; parsed series keys are cached in
// a bounded map (cleared when full). Delivery is synchronous; sinks buffer
// with their own bound (the WebSocket connection ends a subscription whose
// buffer overflows with TSR_ERR_SUBSCRIPTION_OVERFLOW).
import { TsraftError, assert } from '../errors.js';
import { decodeCommand } from '../tsdb/command.js';
import { SeriesSelector } from '../tsdb/query/filters.js';
import type { ApplyResult } from '../tsdb/state-machine.js';
import type { Tags } from '../tsdb/types.js';
import { parseSeriesKey } from '../tsdb/validate.js';
import { decodeWriteBatch, type DecodedWriteBatch } from '../tsdb/write-batch.js';
import type { LivePoint, Subscription, SubscriptionSink, SubscriptionSpec } from './service.js';

export interface SubscriptionHubOptions {
  /** Subscriptions held by the whole node; default 10,000. */
  maxSubscriptions: number;
  /** Parsed series keys cached; default 100,000. */
  maxCachedSeriesKeys: number;
}

export const DEFAULT_SUBSCRIPTION_HUB_OPTIONS: Readonly<SubscriptionHubOptions> = Object.freeze({
  maxSubscriptions: 10_000,
  maxCachedSeriesKeys: 100_000,
});

interface Entry {
  spec: SubscriptionSpec;
  selector: SeriesSelector;
  sink: SubscriptionSink;
}

/** Whether a series exists after apply (a write may reject new series at maxSeries). */
export type SeriesExists = (metric: string, tags: Tags) => boolean;

/** The key of the series with this id in the state machine just applied to
 *  (a batch refers to existing series by id), or undefined. */
export type SeriesKeyOf = (seriesId: number) => string | undefined;

export class SubscriptionHub {
  private readonly options: SubscriptionHubOptions;
  private readonly entries = new Set<Entry>();
  private readonly parsedKeys = new Map<string, { metric: string; tags: Tags }>();

  constructor(options: Partial<SubscriptionHubOptions> = {}) {
    this.options = { ...DEFAULT_SUBSCRIPTION_HUB_OPTIONS, ...options };
    assert(this.options.maxSubscriptions >= 1 && this.options.maxCachedSeriesKeys >= 1, 'subscription hub bounds must be ≥ 1');
  }

  get size(): number {
    return this.entries.size;
  }

  /** Registers a sink; throws TSR_ERR_TOO_MANY_SUBSCRIPTIONS at the bound. */
  add(spec: SubscriptionSpec, sink: SubscriptionSink): Subscription {
    if (this.entries.size >= this.options.maxSubscriptions) {
      throw new TsraftError('TSR_ERR_TOO_MANY_SUBSCRIPTIONS', `this node already holds ${this.entries.size} subscriptions (maxSubscriptions)`, {
        details: { limit: 'maxSubscriptions', maxSubscriptions: this.options.maxSubscriptions },
      });
    }
    const entry: Entry = { spec, selector: new SeriesSelector(spec.filters, spec.explicitTags), sink };
    this.entries.add(entry);
    return { close: () => void this.entries.delete(entry) };
  }

  /** Ends every subscription (node shutting down or removed). */
  endAll(error: Error): void {
    const all = [...this.entries];
    this.entries.clear();
    for (const entry of all) entry.sink.onEnd(error);
  }

  private parseKey(key: string): { metric: string; tags: Tags } | null {
    let parsed = this.parsedKeys.get(key);
    if (parsed === undefined) {
      const fresh = parseSeriesKey(key);
      if (fresh === null) return null;
      if (this.parsedKeys.size >= this.options.maxCachedSeriesKeys) this.parsedKeys.clear();
      this.parsedKeys.set(key, fresh);
      parsed = fresh;
    }
    return parsed;
  }

  /** Called after `data` (a committed entry) was applied at `logIndex` with `result`. */
  onApplied(logIndex: number, data: Uint8Array, result: ApplyResult, seriesExists: SeriesExists, seriesKeyOf: SeriesKeyOf): void {
    if (this.entries.size === 0) return;
    if (result.kind !== 'write' && result.kind !== 'writes') return;
    const cmd = decodeCommand(data);
    // The batches that stored points, with their results (a `writes` entry holds several).
    const applied: Array<{ batch: Uint8Array; result: Extract<ApplyResult, { kind: 'write' }> }> = [];
    if (result.kind === 'write') {
      assert(cmd.type === 'write', 'a write result came from a non-write entry');
      applied.push({ batch: cmd.batch, result });
    } else {
      assert(cmd.type === 'writes' && cmd.writes.length === result.results.length, 'a writes result came from another entry');
      cmd.writes.forEach((write, i) => {
        const r = result.results[i]!;
        if (r.kind === 'write') applied.push({ batch: write.batch, result: r });
      });
    }
    const entries = [...this.entries];
    const out: LivePoint[][] = entries.map(() => []);
    for (const one of applied) {
      if (one.result.duplicate || one.result.storedCount === 0) continue;
      this.collectPoints(decodeWriteBatch(one.batch), one.result.rejectedCount > 0, entries, out, seriesExists, seriesKeyOf);
    }
    for (let s = 0; s < entries.length; s++) {
      if (out[s]!.length > 0 && this.entries.has(entries[s]!)) entries[s]!.sink.onPoints(out[s]!, logIndex);
    }
  }

  /** Appends to out[s] the points of `batch` subscription s wants. */
  private collectPoints(batch: DecodedWriteBatch, someRejected: boolean, entries: readonly Entry[], out: LivePoint[][], seriesExists: SeriesExists, seriesKeyOf: SeriesKeyOf): void {
    // For each series key of the batch: which subscriptions want it.
    const wanted: Array<number[] | null> = new Array(batch.seriesKeys.length).fill(null);
    const keys: Array<{ metric: string; tags: Tags } | null> = new Array(batch.seriesKeys.length).fill(null);
    let any = false;
    for (let k = 0; k < batch.seriesKeys.length; k++) {
      const id = batch.seriesIds[k]!;
      const key = id >= 0 ? seriesKeyOf(id) : batch.seriesKeys[k]!;
      if (key === undefined) continue;
      const parsed = this.parseKey(key);
      if (parsed === null) continue;
      if (someRejected && !seriesExists(parsed.metric, parsed.tags)) continue;
      let subs: number[] | null = null;
      for (let s = 0; s < entries.length; s++) {
        const e = entries[s]!;
        if (e.spec.metric !== parsed.metric || !e.selector.matches(parsed.tags)) continue;
        (subs ??= []).push(s);
      }
      wanted[k] = subs;
      keys[k] = parsed;
      any ||= subs !== null;
    }
    if (!any) return;
    const cols = batch.columns;
    for (let i = 0; i < cols.length; i++) {
      const k = batch.seriesKeyIndexes[i]!;
      const subs = wanted[k];
      if (subs === null || subs === undefined) continue;
      const series = keys[k]!;
      const isInteger = cols.isInteger[i] === 1;
      const raw = cols.values[i]!;
      const value = isInteger && cols.bigInts !== null && !Number.isSafeInteger(raw) ? cols.bigInts[i]! : raw;
      const point: LivePoint = { metric: series.metric, tags: series.tags, timestampMs: cols.timestampsMs[i]!, value };
      for (const s of subs) out[s]!.push(point);
    }
  }
}
