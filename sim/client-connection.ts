// One client's WebSocket connection to one node process, both ends in one
// object: the client library's end (the series handles it declared,
// src/client/series-handles.ts as the library's connection uses it) and the node's end (its
// SeriesHandleTable and the real `put` operation of src/api/ws-operations.ts
// over the node's ReplicatedTsdbService). A connection lives as long as the
// node's process: a restarted node is a new connection, with no handles.
//
// So a simulated put takes the production write path from the request on:
// handles → remembered series ids → encodePut (series by id: write batch
// version 2) → the write coalescer (one `writes` entry per virtual instant)
// → propose → apply → stale_series re-proposal by key.
import { assert } from '../src/errors.js';
import { DEFAULT_CLIENT_API_LIMITS } from '../src/api/limits.js';
import { SeriesHandleTable } from '../src/api/series-handles.js';
import type { PutResult, WriteSession } from '../src/api/service.js';
import { BUILT_IN_OPERATIONS, type OperationContext } from '../src/api/ws-operations.js';
import { DeclaredSeriesHandles } from '../src/client/series-handles.js';
import type { SimPoint } from './history.js';
import type { SimNode } from './node.js';

/** Series handles one connection may declare (the node's bound). */
const MAX_SERIES_HANDLES = DEFAULT_CLIENT_API_LIMITS.maxSeriesHandles;
const PUT = BUILT_IN_OPERATIONS.get('put')!;
const QUERY = BUILT_IN_OPERATIONS.get('query')!;

/** One result group of the `query` operation, as it travels (ws-operations resultsForWire). */
export interface WireQueryResult {
  metric: string;
  tags: Record<string, string>;
  aggregateTags: string[];
  queryIndex: number;
  timestamps: number[];
  values: Array<number | bigint | null>;
}

export class SimConnection {
  /** The node process this connection reached. */
  readonly incarnation: number;
  /** Client end: the series handles declared on this connection. */
  private readonly declared = new DeclaredSeriesHandles();
  /** Node end. */
  private readonly context: OperationContext;

  constructor(readonly node: SimNode) {
    assert(node.clientService !== null && node.clock !== null, `connection to ${node.id}, which runs no process`);
    this.incarnation = node.incarnation;
    this.context = {
      service: node.clientService,
      clock: node.clock,
      limits: DEFAULT_CLIENT_API_LIMITS,
      access: 'read-write',
      sendPartial: () => {},
      drained: () => Promise.resolve(),
      seriesHandles: new SeriesHandleTable(MAX_SERIES_HANDLES),
    };
  }

  /** The connection still reaches the node's current process. */
  get open(): boolean {
    return this.node.incarnation === this.incarnation && this.node.service !== null;
  }

  /** Client end: the put request for `points` (columns, series by handle
   *  once declared, as the client library sends them). Call it right before
   *  the request leaves: it declares handles. */
  putRequest(points: readonly SimPoint[], session: WriteSession): Record<string, unknown> {
    const keys: string[] = [];
    const seriesIndexes = new Uint32Array(points.length);
    const timestamps = new Array<number>(points.length);
    const values = new Array<number>(points.length);
    for (let i = 0; i < points.length; i++) {
      const p = points[i]!;
      let k = keys.indexOf(p.seriesKey);
      if (k < 0) k = keys.push(p.seriesKey) - 1;
      seriesIndexes[i] = k;
      timestamps[i] = p.timestampMs;
      values[i] = p.value;
    }
    const request: Record<string, unknown> = { op: 'put', seriesIndexes, timestamps, values, clientId: session.clientId, seq: session.sequence, firstUnacked: session.firstUnackedSequence };
    return { ...request, ...this.declared.fieldsFor(keys, MAX_SERIES_HANDLES) };
  }

  /** Node end: the request arrived (the connection declares its handles as
   *  it reads the frame, ws-connection.ts), then the `put` operation. */
  serve(request: Record<string, unknown>): Promise<PutResult> {
    assert(this.open, `a request on a closed connection to ${this.node.id}`);
    if (request.seriesHandles !== undefined) this.context.seriesHandles.declare(request.seriesHandles, request.seriesKeys);
    return PUT(request, this.context) as Promise<PutResult>;
  }

  /** Node end: the real `query` operation (parse the OpenTSDB m-query, the
   *  service's read barrier for its consistency, the query engine). */
  query(request: Record<string, unknown>): Promise<{ results: WireQueryResult[] }> {
    assert(this.open, `a query on a closed connection to ${this.node.id}`);
    return QUERY(request, this.context) as Promise<{ results: WireQueryResult[] }>;
  }
}
