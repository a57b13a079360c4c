// The backup format itself: any state cut into pages, groups and segments and
// packed rebuilds to the exact snapshot bytes; blocks the pages cannot
// reproduce are kept raw; content-defined cuts stay put when data is added;
// the pack reader refuses a cut-short stream; the manifest is canonical.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalJson, decodeManifest, encodeManifest, sealManifest } from '../../src/backup/manifest.js';
import { BackupFormatStateMachine } from '../../src/backup/state-machine-adapter.js';
import { decodeGroupFile, decodeRootIndex, type SegmentRecord } from '../../src/backup/data-files.js';
import { cutSegments, exportBackupFiles } from '../../src/backup/export.js';
import { encodePack, readPack, unpackSync } from '../../src/backup/pack.js';
import { PageCache, parseSeriesSnapshot, readSeriesHeader, serializeSeries, splitBlock } from '../../src/backup/series-pages.js';
import { packState, unpackState, type CaptureInfo } from '../../src/backup/snapshot-pack.js';
import { TssmWriter, parseTssm } from '../../src/backup/tssm.js';
import { decodeBlock, encodeBlock } from '../../src/tsdb/codec/block-format.js';
import { TimeSeriesStateMachine } from '../../src/tsdb/state-machine.js';
import { Feeder, feedPoints, newStateMachine, syntheticPoints } from './workload.js';

const INFO: CaptureInfo = { clusterId: 'c', nodeId: 'n1', raftIndex: 0, raftTerm: 1, membership: null, createdAtMs: 0 };

function filledState(seed: number, series: number, points: number, blockSpanMs = 2 * 3600_000): { sm: TimeSeriesStateMachine; index: number } {
  const sm = newStateMachine({ blockSpanMs });
  const feeder = new Feeder(sm);
  let t = 1_700_000_000_000;
  if (points > 0) feedPoints(feeder, syntheticPoints({ seed, series, pointsPerSeries: points }), 97, () => (t += 1000), seed % 2 === 0);
  return { sm, index: feeder.index };
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0;
}

describe('backup format', () => {
  it('rebuilds any state byte for byte, whatever the layout', () => {
    fc.assert(
      fc.property(
        fc.record({
          seed: fc.nat(1000),
          series: fc.integer({ min: 0, max: 9 }),
          points: fc.integer({ min: 0, max: 700 }),
          blockSpanMs: fc.constantFrom(3_600_000, 7_200_000, 600_000 + 7, 86_400_000),
          pagesPerBlock: fc.constantFrom(1, 2, 3, 8, 64),
          seriesPerGroup: fc.integer({ min: 1, max: 6 }),
          minSegmentBytes: fc.constantFrom(1, 300, 4096, 1 << 20),
        }),
        (c) => {
          const { sm, index } = filledState(c.seed, c.series, c.points, c.blockSpanMs);
          const tssm = sm.snapshot();
          const { pack, manifest } = packState(tssm, { ...INFO, raftIndex: index }, { layout: { pagesPerBlock: c.pagesPerBlock, seriesPerGroup: c.seriesPerGroup, minSegmentBytes: c.minSegmentBytes } });
          const back = unpackState(pack);
          expect(bytesEqual(back.tssm, tssm)).toBe(true);
          expect(manifest.pointCount).toBe(sm.stats().pointCount);
          expect(back.result.seriesCount).toBe(sm.stats().seriesCount);
        },
      ),
      { numRuns: 40, seed: 1234 },
    );
  });

  it('keeps a block raw when its pages would not rebuild it exactly', () => {
    const { sm, index } = filledState(3, 2, 1500);
    const parsed = parseTssm(sm.snapshot());
    // An older writer's block: the same points in another (valid) order.
    const series = parseSeriesSnapshot(parsed.series[0]!.data);
    const sealed = series.blocks.findIndex((b) => !b.open);
    expect(sealed).toBeGreaterThanOrEqual(0);
    const cols = decodeBlock(series.blocks[sealed]!.bytes);
    const reversed = { ...cols, timestampsMs: cols.timestampsMs.slice().reverse(), values: cols.values.slice().reverse(), isInteger: cols.isInteger.slice().reverse(), bigInts: cols.bigInts?.slice().reverse() ?? null };
    const blocks = series.blocks.map((b, i) => (i === sealed ? { ...b, bytes: encodeBlock(reversed) } : b));
    expect(splitBlock(blocks[sealed]!, series.blockSpanMs, 8).raw).toBe(true);
    const chunks: Uint8Array[] = [];
    const w = new TssmWriter((c) => chunks.push(c.slice()));
    w.header(parsed.header);
    parsed.series.forEach((s, i) => w.series(s.id, s.key, i === 0 ? serializeSeries(series.header, blocks) : s.data));
    w.finish(parsed.sessions);
    const tssm = Buffer.concat(chunks);
    const restored = TimeSeriesStateMachine.restore(tssm);
    const { pack } = packState(tssm, { ...INFO, raftIndex: index });
    const back = unpackState(pack);
    expect(bytesEqual(back.tssm, tssm)).toBe(true);
    expect(TimeSeriesStateMachine.restore(back.tssm).stateHash()).toBe(restored.stateHash());
    // The group file says so.
    const files = unpackSync(pack).files;
    const root = decodeRootIndex([...files.entries()].find(([n]) => n.endsWith('.idx'))![1], 'idx');
    const group = decodeGroupFile(files.get(`data/${Buffer.from(root.groups[0]!.fileId).toString('hex')}.grp`)!, 'grp', 0, (h) => readSeriesHeader(h).blockSpanMs);
    expect(group.series[0]!.blocks.filter((b) => b.raw)).toHaveLength(1);
  });

  it('remembers the pages of sealed blocks and reuses them', () => {
    const { sm } = filledState(4, 3, 2000);
    const cache = new PageCache(1000);
    const first = [...iterateFiles(sm.snapshot(), cache)];
    const cached = cache.size;
    expect(cached).toBeGreaterThan(0);
    const second = [...iterateFiles(sm.snapshot(), cache)];
    expect(second.map((f) => f.id)).toEqual(first.map((f) => f.id));
    expect(cache.size).toBe(cached);
  });

  it('cuts segments at content-defined points that do not move when records are appended', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 400 }), { minLength: 1, maxLength: 300 }), fc.integer({ min: 1, max: 100 }), (sizes, extra) => {
        const records: SegmentRecord[] = sizes.map((size, i) => ({ seriesId: i % 5, blockStartMs: Math.floor(i / 40) * 7_200_000, pageIndex: Math.floor(i / 5) % 8, bytes: new Uint8Array(size) }));
        const more = [...records, ...Array.from({ length: extra }, (_, k) => ({ seriesId: k % 5, blockStartMs: 1e9, pageIndex: 0, bytes: new Uint8Array(50) }))];
        const before = cutSegments(0, records, 1024);
        const after = cutSegments(0, more, 1024);
        // Every chunk but the last is unchanged.
        expect(after.slice(0, before.length - 1)).toEqual(before.slice(0, -1));
        expect(before.flat()).toEqual(records);
      }),
      { numRuns: 100, seed: 99 },
    );
  });

  it('refuses a pack stream that ends early or carries trailing bytes', async () => {
    const { sm, index } = filledState(5, 3, 200);
    const { pack } = packState(sm.snapshot(), { ...INFO, raftIndex: index });
    const handler = { onFileStart: () => {}, onFileData: () => {}, onFileEnd: () => {}, onRef: () => {}, onManifest: () => {} };
    async function* chunks(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
      for (let i = 0; i < bytes.length; i += 333) yield bytes.subarray(i, i + 333);
    }
    expect((await readPack(chunks(pack), handler)).bytes).toBe(pack.length);
    for (const cut of [5, 100, Math.floor(pack.length / 2), pack.length - 1]) {
      await expect(readPack(chunks(pack.subarray(0, cut)), handler)).rejects.toMatchObject({ code: 'TSR_ERR_BACKUP_CORRUPT', details: expect.objectContaining({ reason: 'truncated' }) });
      expect(() => unpackSync(pack.subarray(0, cut))).toThrow(expect.objectContaining({ code: 'TSR_ERR_BACKUP_CORRUPT' }));
    }
    const longer = new Uint8Array(pack.length + 1);
    longer.set(pack);
    await expect(readPack(chunks(longer), handler)).rejects.toMatchObject({ code: 'TSR_ERR_BACKUP_CORRUPT' });
    expect(() => unpackState(encodePack([], new Uint8Array(0)))).toThrow(expect.objectContaining({ code: 'TSR_ERR_BACKUP_CORRUPT' }));
  });

  it('accepts only the canonical manifest bytes', () => {
    const { sm, index } = filledState(6, 2, 100);
    const { manifest } = packState(sm.snapshot(), { ...INFO, raftIndex: index });
    const bytes = encodeManifest(manifest);
    expect(decodeManifest(bytes, 'm').backupId).toBe(manifest.backupId);
    const text = new TextDecoder().decode(bytes);
    // A space turned into a tab is still the same JSON, but not the same bytes.
    const tabbed = text.replace('  "backupId"', '\t"backupId"');
    expect(() => decodeManifest(new TextEncoder().encode(tabbed), 'm')).toThrow(expect.objectContaining({ code: 'TSR_ERR_BACKUP_CORRUPT' }));
    const { manifestSha256: _h, totals: _t, ...body } = manifest;
    const future = sealManifest({ ...body, formatVersion: 2 });
    expect(() => decodeManifest(new TextEncoder().encode(canonicalJson(future)), 'm')).toThrow(expect.objectContaining({ code: 'TSR_ERR_BACKUP_UNSUPPORTED' }));
  });
});

describe('snapshot = backup for Raft (BackupFormatStateMachine)', () => {
  const entries = (): Uint8Array[] => {
    const sm = newStateMachine();
    const feeder = new Feeder(sm);
    let t = 1_700_000_000_000;
    feedPoints(feeder, syntheticPoints({ seed: 8, series: 5, pointsPerSeries: 900 }), 150, () => (t += 1000), true);
    return feeder.entries.map((e) => e.data);
  };

  function replica(data: Uint8Array[]): BackupFormatStateMachine {
    const sm = new BackupFormatStateMachine(newStateMachine(), { clusterId: 'c', nodeId: 'n1' });
    data.forEach((d, i) => sm.apply(i + 1, d));
    return sm;
  }

  it('gives byte-identical snapshots on replicas that applied the same entries', () => {
    const data = entries();
    const a = replica(data).snapshot();
    const b = replica(data).snapshot();
    expect(bytesEqual(a, b)).toBe(true);
    expect(Buffer.from(a.subarray(0, 4)).toString('latin1')).toBe('TSBP');
  });

  it('installs a snapshot on a follower after verifying it, and takes raw state machine snapshots too', () => {
    const data = entries();
    const leader = replica(data);
    const follower = new BackupFormatStateMachine(newStateMachine(), { clusterId: 'c', nodeId: 'n2' });
    follower.restore(leader.snapshot());
    expect(follower.stateHash()).toBe(leader.stateHash());
    expect(follower.appliedIndex).toBe(leader.appliedIndex);
    const raw = new BackupFormatStateMachine(newStateMachine(), { clusterId: 'c', nodeId: 'n3' });
    raw.restore(leader.inner.snapshot());
    expect(raw.stateHash()).toBe(leader.stateHash());
  });

  it('refuses a damaged snapshot and keeps its state', () => {
    const data = entries();
    const leader = replica(data);
    const follower = replica(data.slice(0, 3));
    const before = follower.stateHash();
    const pack = leader.snapshot();
    fc.assert(
      fc.property(fc.nat(pack.length - 1), fc.integer({ min: 1, max: 255 }), (at, mask) => {
        const damaged = pack.slice();
        damaged[at]! ^= mask;
        expect(() => follower.restore(damaged)).toThrow(expect.objectContaining({ code: expect.stringMatching(/^TSR_ERR_(BACKUP_CORRUPT|BACKUP_UNSUPPORTED|CORRUPT_SNAPSHOT)$/) }));
        expect(follower.stateHash()).toBe(before);
      }),
      { numRuns: 60, seed: 5 },
    );
  });
});

function* iterateFiles(tssm: Uint8Array, cache: PageCache): Generator<{ id: string }> {
  const g = exportBackupFiles(tssm, { cache });
  for (let s = g.next(); s.done !== true; s = g.next()) if (s.value !== null) yield s.value;
}
