// Our figures as ratios to the peers' (etcd, VictoriaMetrics), from the
// peer result files bench/peers/ writes (peers-etcd.json,
// peers-victoria-metrics.json) and our own figures in the harness summary.
// The peer benches are never run from here: `make bench-peers` runs them
// (bench/peers/setup.sh) before the harness reads what they wrote.
import { meetsTarget, type Better, type Spread, type Target, type Unit } from './figures.js';
import type { JsonReader } from './result-file.js';

export interface EtcdSide {
  version: string;
  packageVersion: string | null;
  members: number;
  date: string;
  protocol: string;
  loadAverages: number[];
  opsPerSecond: Map<number, Spread>;
  latencyP50Ms: Map<number, Spread>;
}

export interface VmSide {
  version: string;
  date: string;
  loadAverages: number[];
  ingestPointsPerSecond: Spread;
  bytesPerPointDataPlusIndex: Spread;
  /** Whether the export matched the file bit for bit; null when unchecked. */
  lossless: boolean | null;
}

function loadAveragesOf(r: JsonReader): number[] {
  const runs = r.optional('runs');
  if (runs === null) return [];
  return r.items('runs').flatMap((run) => (run.has('loadAverage1m') ? [run.num('loadAverage1m')] : []));
}

/** peers-etcd.json: the primary protocol's figures by concurrency. */
export function readEtcd(r: JsonReader): EtcdSide {
  const protocol = r.str('primaryProtocol');
  const peer = r.get('peer');
  const opsPerSecond = new Map<number, Spread>();
  const latencyP50Ms = new Map<number, Spread>();
  for (const f of r.items('figures')) {
    if (f.str('protocol') !== protocol) continue;
    const c = f.num('concurrency');
    opsPerSecond.set(c, f.spread('opsPerSecond'));
    latencyP50Ms.set(c, f.spread('latencyP50Ms'));
  }
  if (opsPerSecond.size === 0) throw new Error(`${r.file}: no figures for the primary protocol ${protocol}`);
  return {
    version: peer.str('serverVersion'),
    packageVersion: peer.has('packageVersion') ? peer.str('packageVersion') : null,
    members: peer.num('members'),
    date: r.str('date'),
    protocol,
    loadAverages: loadAveragesOf(r),
    opsPerSecond,
    latencyP50Ms,
  };
}

/** peers-victoria-metrics.json: ingest rate and lossless bytes/point. */
export function readVm(r: JsonReader): VmSide {
  const fidelity = r.optional('fidelity');
  return {
    version: r.get('peer').str('version'),
    date: r.str('date'),
    loadAverages: loadAveragesOf(r),
    ingestPointsPerSecond: r.spread('ingestPointsPerSecond'),
    bytesPerPointDataPlusIndex: r.spread('bytesPerPointDataPlusIndex'),
    lossless: fidelity === null || fidelity.has('skipped') ? null : fidelity.bool('lossless'),
  };
}

/** One of our figures as the harness recorded it. */
export interface OurFigure {
  value: Spread;
  unit: Unit;
  /** When its benchmark ran (ISO). */
  date: string;
}

export interface RatioRow {
  id: string;
  label: string;
  unit: Unit;
  better: Better;
  ours: Spread;
  oursDate: string;
  peerName: string;
  peer: Spread;
  peerDate: string;
  /** ours ÷ peer: median of medians; min and max from the extremes (ours min ÷ peer max, ours max ÷ peer min). */
  ratio: Spread;
  /** On the ratio (unit: times). */
  target?: Target;
  met: boolean | null;
  note?: string;
}

/** ours ÷ peer, with the widest range the two spreads allow. */
export function ratioSpread(ours: Spread, peer: Spread): Spread {
  if (!(peer.min > 0)) throw new RangeError(`ratioSpread: peer minimum ${peer.min} is not positive`);
  return { median: ours.median / peer.median, min: ours.min / peer.max, max: ours.max / peer.min, runs: Math.min(ours.runs, peer.runs) };
}

interface RowSpec {
  id: string;
  label: string;
  ourId: string;
  peerName: string;
  peer: Spread | undefined;
  peerDate: string;
  unit: Unit;
  better: Better;
  target?: Target;
  note?: string;
}

export interface RatioTable {
  rows: RatioRow[];
  /** Comparisons that could not be made, with the reason. */
  missing: string[];
}

/**
 * The comparison rows: single-point ops/s at each concurrency and p50 at 1
 * against etcd; devops ingest and bytes/point against VictoriaMetrics.
 */
export function computeRatios(ours: ReadonlyMap<string, OurFigure>, etcd: EtcdSide | null, vm: VmSide | null): RatioTable {
  const specs: RowSpec[] = [];
  const missing: string[] = [];
  if (etcd === null) missing.push('etcd: no peer results (bench/results/peers-etcd.json); run `make bench-peers`');
  else {
    const name = `etcd ${etcd.version} (${etcd.members} members, ${etcd.protocol})`;
    for (const c of [1, 16, 64]) {
      const target: Target | undefined = c === 1 ? undefined : { comparison: '>=', value: 2, source: 'issue 6' };
      specs.push({ id: `ratio.single-point.c${c}`, label: `single-point writes, concurrency ${c}, ops/s (ours: WebSocket)`, ourId: `single-point.ws.c${c}.opsPerSecond`, peerName: name, peer: etcd.opsPerSecond.get(c), peerDate: etcd.date, unit: 'ops/s', better: 'higher', ...(target === undefined ? {} : { target }) });
    }
    specs.push({ id: 'ratio.single-point.c1.p50', label: 'single-point ack p50 at concurrency 1, ms', ourId: 'single-point.ws.c1.p50Ms', peerName: name, peer: etcd.latencyP50Ms.get(1), peerDate: etcd.date, unit: 'ms', better: 'lower' });
  }
  if (vm === null) missing.push('VictoriaMetrics: no peer results (bench/results/peers-victoria-metrics.json); run `make bench-peers`');
  else {
    const name = `VictoriaMetrics ${vm.version} (1 node, unreplicated)`;
    specs.push({ id: 'ratio.ingest.devops', label: 'ingest of devops-1d through /api/put, points/s (ours: 3 nodes, each put committed by 2 of 3)', ourId: 'ingest-devops.http.pointsPerSecond', peerName: name, peer: vm.ingestPointsPerSecond, peerDate: vm.date, unit: 'points/s', better: 'higher', note: 'same file, bodies and client' });
    specs.push({ id: 'ratio.ingest.ws5000', label: 'ingest, points/s (ours: WebSocket, 5,000-point puts, synthetic 10,000 series, 3 nodes)', ourId: 'ingest.ws.batch5000.pointsPerSecond', peerName: name, peer: vm.ingestPointsPerSecond, peerDate: vm.date, unit: 'points/s', better: 'higher', note: 'different workloads: our fastest path against its /api/put' });
    const losslessNote = vm.lossless === null ? 'its fidelity was not checked' : vm.lossless ? 'both bit-exact on this file' : 'VictoriaMetrics was NOT bit-exact on this file';
    const beat: Target = { comparison: '<', value: 1, source: 'issue 5', meaning: 'smaller than VictoriaMetrics' };
    specs.push({ id: 'ratio.bytesPerPoint.codec', label: 'bytes/point, devops-1d (ours: codec blocks; VM: data/ + indexdb/)', ourId: 'compression.devops.bytesPerPoint', peerName: name, peer: vm.bytesPerPointDataPlusIndex, peerDate: vm.date, unit: 'bytes/point', better: 'lower', target: beat, note: `${losslessNote}; 0.857 is not VictoriaMetrics' lossless figure: docs/benchmarks.md` });
    specs.push({ id: 'ratio.bytesPerPoint.state', label: 'bytes/point, devops-1d (ours: whole state snapshot, series index included)', ourId: 'backup.stateBytesPerPoint', peerName: name, peer: vm.bytesPerPointDataPlusIndex, peerDate: vm.date, unit: 'bytes/point', better: 'lower', target: beat, note: losslessNote });
  }
  const rows: RatioRow[] = [];
  for (const s of specs) {
    const our = ours.get(s.ourId);
    if (our === undefined) {
      missing.push(`${s.label}: our figure ${s.ourId} is not in this summary`);
      continue;
    }
    if (s.peer === undefined) {
      missing.push(`${s.label}: ${s.peerName} has no such figure`);
      continue;
    }
    if (our.unit !== s.unit) throw new Error(`figure ${s.ourId} is in ${our.unit}, the comparison expects ${s.unit}`);
    const ratio = ratioSpread(our.value, s.peer);
    rows.push({
      id: s.id,
      label: s.label,
      unit: s.unit,
      better: s.better,
      ours: our.value,
      oursDate: our.date,
      peerName: s.peerName,
      peer: s.peer,
      peerDate: s.peerDate,
      ratio,
      ...(s.target === undefined ? {} : { target: s.target }),
      met: meetsTarget(ratio.median, s.target),
      ...(s.note === undefined ? {} : { note: s.note }),
    });
  }
  return { rows, missing };
}
