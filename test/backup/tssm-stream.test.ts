// The state machine snapshot streamed one series at a time (tssm-stream.ts)
// is snapshot() byte for byte, with its size known before the first byte and
// its digests equal to those of the whole snapshot, also when the sealed
// blocks left memory and are read back from the store.
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TssmStream, serializedSeriesBytes, svarintBytes, varuintBytes } from '../../src/backup/tssm-stream.js';
import { parseTssm } from '../../src/backup/tssm.js';
import { Fnv1a64, fnv1a64Hex } from '../../src/tsdb/byte-io.js';
import { crc32c } from '../../src/tsdb/codec/crc32c.js';
import { ByteWriter } from '../../src/tsdb/codec/byte-buffer.js';
import type { TimeSeriesStateMachine } from '../../src/tsdb/state-machine.js';
import { T0, buildStates, stateCommands } from './random-state.js';
import { writeEntry } from './workload.js';

function concat(parts: readonly Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(parts.map((p) => Buffer.from(p.buffer, p.byteOffset, p.byteLength))));
}

function streamed(sm: TimeSeriesStateMachine): { bytes: Uint8Array; stream: TssmStream; digests: ReturnType<TssmStream['pieces']> extends Generator<unknown, infer R> ? R : never } {
  const stream = new TssmStream(sm);
  const parts: Uint8Array[] = [];
  const it = stream.pieces();
  let step = it.next();
  while (step.done !== true) {
    parts.push(step.value.slice());
    step = it.next();
  }
  return { bytes: concat(parts), stream, digests: step.value };
}

function expectSameAsSnapshot(sm: TimeSeriesStateMachine): void {
  const whole = sm.snapshot();
  const { bytes, stream, digests } = streamed(sm);
  expect(stream.sizeBytes).toBe(whole.length);
  expect(Buffer.compare(Buffer.from(bytes), Buffer.from(whole))).toBe(0);
  expect(digests.bytes).toBe(whole.length);
  expect(digests.crc32c).toBe(crc32c(whole, 0, whole.length - 4));
  expect(Buffer.from(digests.sha256).toString('hex')).toBe(createHash('sha256').update(whole).digest('hex'));
  expect(digests.fnv1a64).toBe(sm.stateHash());
  // records() gives the same series and digests as parsing the whole snapshot.
  const again = new TssmStream(sm);
  const records = again.records();
  const parsed = parseTssm(whole);
  expect(again.header).toEqual(parsed.header);
  expect(Buffer.from(again.sessions).equals(Buffer.from(parsed.sessions))).toBe(true);
  let n = 0;
  let step = records.next();
  while (step.done !== true) {
    const want = parsed.series[n++]!;
    expect({ id: step.value.id, key: step.value.key }).toEqual({ id: want.id, key: want.key });
    expect(Buffer.from(step.value.data).equals(Buffer.from(want.data))).toBe(true);
    step = records.next();
  }
  expect(n).toBe(parsed.series.length);
  expect(step.value).toEqual(digests);
}

describe('streamed state machine snapshot', () => {
  it('is snapshot() byte for byte over random states, blocks in memory or read back from the store', async () => {
    let evictedSomewhere = 0;
    await fc.assert(
      fc.asyncProperty(stateCommands, async (commands) => {
        const { plain, persisted, evictedBlocks } = await buildStates(commands);
        evictedSomewhere += evictedBlocks;
        expectSameAsSnapshot(plain);
        expectSameAsSnapshot(persisted);
        expect(Buffer.from(persisted.snapshot()).equals(Buffer.from(plain.snapshot()))).toBe(true);
      }),
      { numRuns: 60, seed: 4242 },
    );
    // The property ran over states whose blocks had left memory.
    expect(evictedSomewhere).toBeGreaterThan(50);
  });

  it('knows each series size without reading its sealed blocks', async () => {
    const { persisted } = await buildStates([
      { kind: 'write', series: [0, 1, 2], blocks: [0, 1, 2], points: 30, session: false, bigValues: true },
      { kind: 'write', series: [0, 1], blocks: [3, 4, 5], points: 30, session: false, bigValues: false },
      { kind: 'write', series: [0, 1, 2], blocks: [20], points: 5, session: true, bigValues: false },
      { kind: 'checkpoint' },
    ]);
    expect(persisted.residencyStats().evictedBlocks).toBeGreaterThan(0);
    for (let id = 0; id < persisted.nextSeriesId; id++) {
      const data = persisted.seriesDataOf(id)!;
      expect(serializedSeriesBytes(data)).toBe(data.serialize().length);
    }
  });

  it('counts varint bytes as the writers write them', () => {
    for (const v of [0, 1, 127, 128, 16_383, 16_384, 2 ** 31, 2 ** 35 + 3, 2 ** 52, 2 ** 53]) {
      const w = new ByteWriter();
      w.varint(v);
      expect(varuintBytes(v)).toBe(w.length);
    }
    for (const v of [0, -1, 1, -64, 64, -65, 1_700_000_000_000, -(2 ** 52), 2 ** 52]) {
      const w = new ByteWriter();
      w.svarint(v);
      expect(svarintBytes(v)).toBe(w.length);
    }
  });

  it('refuses to be read twice', async () => {
    const { plain } = await buildStates([{ kind: 'write', series: [1], blocks: [0], points: 3, session: false, bigValues: false }]);
    const stream = new TssmStream(plain);
    [...stream.pieces()];
    expect(() => stream.records().next()).toThrow(/read once/);
  });

  it('notices a state that changed while it was streamed', async () => {
    const { plain } = await buildStates([{ kind: 'write', series: [1, 2], blocks: [0], points: 3, session: false, bigValues: false }]);
    const stream = new TssmStream(plain);
    const it = stream.records();
    it.next();
    plain.apply(plain.appliedIndex + 1, writeEntry([{ metric: 'late', timestamp: T0, value: '1', tags: { host: 'x' } }], T0));
    expect(() => [...iterate(it)]).toThrow(/changed while it was streamed/);
  });
});

describe('incremental FNV-1a 64', () => {
  it('equals the one-shot digest however the bytes are cut', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.array(fc.nat(300), { maxLength: 6 }), (bytes, cuts) => {
        const at = [0, ...cuts.map((c) => Math.min(c, bytes.length)).sort((a, b) => a - b), bytes.length];
        const h = new Fnv1a64();
        for (let i = 1; i < at.length; i++) h.update(bytes, at[i - 1]!, at[i]!);
        expect(h.hex()).toBe(fnv1a64Hex(bytes));
        expect(h.bytes).toBe(bytes.length);
      }),
      { numRuns: 200, seed: 7 },
    );
  });
});

function* iterate<T>(it: Generator<T, unknown, void>): Generator<T> {
  for (let step = it.next(); step.done !== true; step = it.next()) yield step.value;
}
