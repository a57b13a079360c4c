// Interfaces between the parts of the time-series state machine.
import type { PointColumns } from './points.js';

/** Tags of one series: key → value, at most 8 pairs. */
export type Tags = Record<string, string>;

export interface SeriesInfo {
  /** Dense id assigned in apply order (deterministic across replicas). */
  id: number;
  metric: string;
  tags: Tags;
}

/** What the query engine reads from. Implemented by the state machine. */
export interface SeriesSource {
  /** Every series of `metric` (empty when the metric is unknown). */
  seriesOfMetric(metric: string): readonly SeriesInfo[];
  /** Points of one series with startMs ≤ ts ≤ endMs, sorted by time, one per
   *  timestamp (last write wins already applied). */
  readPoints(seriesId: number, startMs: number, endMs: number): PointColumns;
}
