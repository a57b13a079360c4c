// One behavioural suite for every StateMachineStore (LevelDB and the
// simulator's memory disk). Each implementation's test file supplies a harness.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { StateMachineStore } from '../../src/storage/types.js';

export interface StateMachineStoreHarness {
  /** Open a store on the durable medium (after close(), this is a restart). */
  open(): Promise<StateMachineStore>;
  /** Make every write so far durable (the Raft log's next synced write does this) and close. */
  close(): Promise<void>;
  destroy(): Promise<void>;
}

const key = (...bytes: number[]): Uint8Array => Uint8Array.from(bytes);
const value = (text: string): Uint8Array => new TextEncoder().encode(text);
const text = (bytes: Uint8Array | undefined): string | undefined => (bytes === undefined ? undefined : new TextDecoder().decode(bytes));

async function dump(store: StateMachineStore): Promise<string[]> {
  const records = await store.readRange(key(0), key(0xff, 0xff));
  return records.map(([k, v]) => `${Array.from(k).join('.')}=${text(v)}`);
}

export function describeStateMachineStore(name: string, makeHarness: () => Promise<StateMachineStoreHarness>): void {
  describe(`${name} (state machine store suite)`, () => {
    let harness: StateMachineStoreHarness;
    let store: StateMachineStore;
    beforeEach(async () => {
      harness = await makeHarness();
      store = await harness.open();
    });
    afterEach(async () => {
      await harness.close();
      await harness.destroy();
    });

    it('applies a batch of puts and deletes and reads records in key order', async () => {
      await store.write([{ type: 'put', key: key(2, 1), value: value('b') }, { type: 'put', key: key(1), value: value('a') }, { type: 'put', key: key(3), value: value('c') }], { replaceAll: false });
      await store.write([{ type: 'del', key: key(3) }, { type: 'put', key: key(2, 0), value: value('b0') }], { replaceAll: false });
      expect(await dump(store)).toEqual(['1=a', '2.0=b0', '2.1=b']);
      expect(text(store.readSync(key(2, 1)))).toBe('b');
      expect(store.readSync(key(3))).toBeUndefined();
    });

    it('reads a range: gte inclusive, lt exclusive', async () => {
      await store.write([1, 2, 3, 4].map((k) => ({ type: 'put' as const, key: key(k), value: value(`v${k}`) })), { replaceAll: false });
      const records = await store.readRange(key(2), key(4));
      expect(records.map(([k]) => k[0])).toEqual([2, 3]);
    });

    it('replaces every record in the same batch with replaceAll', async () => {
      await store.write([{ type: 'put', key: key(1), value: value('old') }, { type: 'put', key: key(9), value: value('gone') }], { replaceAll: false });
      await store.write([{ type: 'put', key: key(1), value: value('new') }], { replaceAll: true });
      expect(await dump(store)).toEqual(['1=new']);
    });

    it('runs writes in call order even when they are not awaited one by one', async () => {
      const writes = [];
      for (let i = 0; i < 20; i++) writes.push(store.write([{ type: 'put', key: key(7), value: value(`v${i}`) }], { replaceAll: i % 5 === 0 }));
      await Promise.all(writes);
      expect(await dump(store)).toEqual(['7=v19']);
    });

    it('keeps what was written across a restart', async () => {
      await store.write([{ type: 'put', key: key(4, 4), value: value('kept') }], { replaceAll: false });
      await harness.close();
      store = await harness.open();
      expect(text(store.readSync(key(4, 4)))).toBe('kept');
      expect(await dump(store)).toEqual(['4.4=kept']);
    });
  });
}
