// Metrics of the client API (src/api): read durations and written points.
//
// Two ways to feed them, both documented in docs/metrics.md ("For other rooms"):
//   - instrumentTsdbService(service, api) wraps any TsdbService; the node
//     hands the wrapped service to mountClientApi, so every surface (HTTP,
//     WebSocket, telnet) is measured without touching src/api;
//   - code that is not a TsdbService calls the ClientApiMetrics methods directly:
//       api.observeRead('query', seconds, failed)
//       api.countPut(putResult)
// Points are counted on the node the client talked to: a follower forwards a
// put to the leader with `forwarded: true`, and the leader does not count it
// again, so summing over nodes counts each point once. Retries answered as
// duplicates are not counted twice.
import type { ReplicaHandle } from '../api/replicated-service.js';
import type { PutResult, TsdbService } from '../api/service.js';
import { isTsraftError } from '../errors.js';
import type { InvalidPointReason } from '../tsdb/validate.js';
import type { MetricFamilies, QueryOperation } from './definitions.js';
import { monotonicSeconds, type MonotonicSeconds } from './instrumented-storage.js';

/** Every `reason` label value of tsraft_tsdb_points_rejected_total. */
export const REJECT_REASONS: readonly (InvalidPointReason | 'unlisted')[] = [
  'missing',
  'wrong_type',
  'empty',
  'too_long',
  'illegal_character',
  'no_tags',
  'too_many_tags',
  'not_an_integer',
  'not_positive',
  'out_of_range',
  'not_a_number',
  'not_finite',
  'series_limit',
  'block_full',
  // Rejected points beyond the errors a put result lists (maxErrorsPerPut).
  'unlisted',
];
const KNOWN_REASONS: ReadonlySet<string> = new Set(REJECT_REASONS);

export interface ClientApiMetrics {
  /** A read finished after `seconds` (read barrier included); `failed` when it threw. */
  observeRead(operation: QueryOperation, seconds: number, failed: boolean): void;
  /** A put was answered to a client of this node (not a forwarded or duplicate one). */
  countPut(result: PutResult): void;
}

export function clientApiMetrics(families: MetricFamilies): ClientApiMetrics {
  for (const reason of REJECT_REASONS) families.pointsRejected.inc({ reason }, 0);
  return {
    observeRead(operation, seconds, failed) {
      families.queryDuration.observe({ operation }, Math.max(0, seconds));
      if (failed) families.queryErrors.inc({ operation });
    },
    countPut(result) {
      if (result.success > 0) families.pointsIngested.inc(result.success);
      if (result.failed <= 0) return;
      let listed = 0;
      for (const error of result.errors) {
        const reason = KNOWN_REASONS.has(error.details.reason) ? error.details.reason : 'unlisted';
        families.pointsRejected.inc({ reason });
        listed++;
      }
      if (result.failed > listed) families.pointsRejected.inc({ reason: 'unlisted' }, result.failed - listed);
    },
  };
}

/** The same service, measured. Every call is forwarded unchanged. */
export function instrumentTsdbService(service: TsdbService, api: ClientApiMetrics, now: MonotonicSeconds = monotonicSeconds): TsdbService {
  const timed = async <T>(operation: QueryOperation, read: () => Promise<T>): Promise<T> => {
    const started = now();
    let failed = true;
    try {
      const answer = await read();
      failed = false;
      return answer;
    } finally {
      api.observeRead(operation, now() - started, failed);
    }
  };
  return {
    async put(points, options) {
      const result = await service.put(points, options);
      if (options?.forwarded !== true && !result.duplicate) api.countPut(result);
      return result;
    },
    query: (query, options) => timed('query', () => service.query(query, options)),
    suggest: (type, prefix, max, options) => timed('suggest', () => service.suggest(type, prefix, max, options)),
    lookup: (query, options) => timed('lookup', () => service.lookup(query, options)),
    last: (queries, options) => timed('last', () => service.last(queries, options)),
    status: () => service.status(),
    subscribe: (spec, sink) => service.subscribe(spec, sink),
  };
}

/** The replica as the client service sees it, counting proposals that fail. */
export function instrumentReplicaHandle<H extends ReplicaHandle>(replica: H, families: MetricFamilies): ReplicaHandle {
  return {
    async propose(data, options) {
      try {
        return await replica.propose(data, options);
      } catch (error) {
        families.proposalsFailed.inc({ code: isTsraftError(error) ? error.code : 'other' });
        throw error;
      }
    },
    readBarrier: (options) => replica.readBarrier(options),
  };
}
