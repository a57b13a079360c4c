// The client end of per-connection series handles (docs/protocol.md, "put"):
// which series keys this connection declared to the node, and how a put then
// names its series. The node's end is src/api/series-handles.ts.
import { assert } from '../errors.js';

/** How a put names its series on one connection. */
export type SeriesFields = { seriesRefs: Uint32Array; seriesKeys?: undefined; seriesHandles?: undefined } | { seriesRefs?: undefined; seriesKeys: readonly string[]; seriesHandles?: Int32Array };

export class DeclaredSeriesHandles {
  /** Handle of each declared key: 0, 1, 2, … in declaration order (never reused). */
  private readonly handleOfSeries = new Map<string, number>();

  /**
   * The series fields of a put with canonical `keys`: the handles alone when
   * every key was declared before (a few bytes per series instead of its
   * key; the node neither decodes nor hashes the key), else the keys with
   * handles declared for those that have none yet, while `maxHandles` (the
   * node's bound) allows (-1: no handle). Declares: call it only for a put
   * that is sent.
   */
  fieldsFor(keys: readonly string[], maxHandles: number): SeriesFields {
    const refs = new Uint32Array(keys.length);
    let k = 0;
    for (; k < keys.length; k++) {
      const handle = this.handleOfSeries.get(keys[k]!);
      if (handle === undefined) break;
      refs[k] = handle;
    }
    if (k === keys.length) return { seriesRefs: refs };
    const handles = new Int32Array(keys.length);
    for (let i = 0; i < keys.length; i++) {
      let handle = this.handleOfSeries.get(keys[i]!);
      if (handle === undefined && this.handleOfSeries.size < maxHandles) {
        handle = this.handleOfSeries.size;
        this.handleOfSeries.set(keys[i]!, handle);
      }
      handles[i] = handle ?? -1;
    }
    assert(this.handleOfSeries.size <= maxHandles, 'series handles beyond the node\'s bound');
    return { seriesKeys: keys, seriesHandles: handles };
  }

  /** Forgets every declared handle (the node lost one): keys are sent again. */
  forget(): void {
    this.handleOfSeries.clear();
  }
}
