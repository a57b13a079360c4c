// Named, scripted scenarios (`--scenario NAME`). Each script drives the world
// through one situation from the Raft paper or thesis and states what must
// happen; a broken expectation is a `scenario` violation. Random faults are
// off; the workload's clients keep writing and reading (except in figure8,
// which places every entry itself), and all the usual checkers run after.
import type { Message, NodeId, RaftConfig } from '../src/raft/types.js';
import type { ReplicaStatus } from '../src/replica/types.js';
import { SimConnection } from './client-connection.js';
import { History, type WriteOp } from './history.js';
import type { SimNode } from './node.js';
import type { ScenarioName } from './types.js';
import { SimClient } from './workload.js';
import type { World } from './world.js';

export interface Scenario {
  name: ScenarioName;
  description: string;
  nodes: 3 | 5;
  /** Nodes that exist but are not founding members (added by the script). */
  spareNodes?: NodeId[];
  raft?: Partial<Omit<RaftConfig, 'id' | 'prng' | 'testingKnobs'>>;
  /** Whether the random clients run (default true). */
  workload?: boolean;
  script(world: World): Promise<void>;
  /** Expectations checked after the run. */
  check?(world: World): void;
}

function expect(w: World, condition: boolean, message: string): boolean {
  if (!condition) w.violations.report('scenario', message);
  return condition;
}

function statusOf(node: SimNode): ReplicaStatus | null {
  return node.running ? node.replica!.status() : null;
}

async function waitLeader(w: World, accept: (n: SimNode) => boolean = () => true, boundMs = 10_000): Promise<{ node: SimNode; status: ReplicaStatus } | null> {
  let found: { node: SimNode; status: ReplicaStatus } | null = null;
  await w.until(() => {
    const l = w.operator.leader();
    found = l !== null && accept(l.node) ? l : null;
    return found !== null;
  }, boundMs);
  return found;
}

/** Wait for a running node that leads (established or not: figure8's leaders
 *  are cut off before they commit anything of their term). */
async function waitAnyLeader(w: World, accept: (n: SimNode) => boolean, boundMs: number): Promise<{ node: SimNode; status: ReplicaStatus } | null> {
  let found: { node: SimNode; status: ReplicaStatus } | null = null;
  await w.until(() => {
    found = null;
    for (const node of w.nodes) {
      const s = statusOf(node);
      if (s !== null && s.role === 'leader' && accept(node) && (found === null || s.term > found.status.term)) found = { node, status: s };
    }
    return found !== null;
  }, boundMs);
  return found;
}

/** Wait until every running node applied what the leader committed. */
async function waitInSync(w: World, boundMs = 5_000): Promise<boolean> {
  return w.until(() => {
    const l = w.operator.leader();
    return l !== null && w.nodes.every((n) => !n.running || n.replica!.appliedIndex === l.status.commitIndex);
  }, boundMs);
}

/** Per-world counter for the scripts' client ids (no state shared between runs). */
const scriptCounters = new WeakMap<World, number>();
function nextScriptNumber(w: World): number {
  const n = (scriptCounters.get(w) ?? 0) + 1;
  scriptCounters.set(w, n);
  return n;
}

/** Put one write at `node` only (no retry elsewhere), recorded in the
 *  history; the node proposes it at the end of this instant. */
function proposeAt(w: World, node: SimNode): WriteOp {
  const clientId = `script-${nextScriptNumber(w)}`;
  const op = w.history.newWrite(clientId, 1, History.generatePoints(w.prng, w.history.writes.length + 1), w.scheduler.nowMs);
  op.attempts = 1;
  const connection = new SimConnection(node);
  connection.serve(connection.putRequest(op.points, { clientId, sequence: 1, firstUnackedSequence: 1 })).then(
    () => {
      op.outcome = 'ok';
      op.ackMs = w.scheduler.nowMs;
    },
    () => {
      op.outcome = 'unknown';
    },
  );
  return op;
}

async function writeMany(w: World, count: number): Promise<void> {
  const client = new SimClient(w, `script-client-${nextScriptNumber(w)}`, w.prng.fork());
  for (let i = 0; i < count; i++) await client.write();
}

function others(w: World, node: SimNode): SimNode[] {
  return w.nodes.filter((n) => n !== node && n.founding);
}

const ELECTION_MS = 500; // SIM_ELECTION_TICKS × SIM_TICK_MS

// ---------------------------------------------------------------------------

const leaderTransfer: Scenario = {
  name: 'leader-transfer',
  description: 'Thesis §3.10: the leader hands leadership to a chosen voter (TimeoutNow); it wins the next term at once.',
  nodes: 3,
  async script(w) {
    const l = await waitLeader(w);
    if (!expect(w, l !== null, 'no leader was elected')) return;
    await waitInSync(w);
    const target = others(w, l!.node)[0]!;
    const term = l!.status.term;
    await l!.node.replica!.transferLeader(target.id).catch((e: unknown) => expect(w, false, `transferLeader failed: ${String(e)}`));
    const moved = await waitLeader(w, (n) => n === target, 3_000);
    if (expect(w, moved !== null, `leadership did not move to ${target.id}`)) {
      expect(w, moved!.status.term === term + 1, `the transfer took ${moved!.status.term - term} terms (expected 1: no election timeout)`);
    }
  },
};

const checkQuorumIsolatedLeader: Scenario = {
  name: 'checkquorum-isolated-leader',
  description: 'Thesis §6.2: a leader cut off from the majority steps down within an election timeout; the majority elects another; the old one follows it after healing.',
  nodes: 3,
  async script(w) {
    const l = await waitLeader(w);
    if (!expect(w, l !== null, 'no leader was elected')) return;
    await waitInSync(w);
    const old = l!.node;
    w.network.isolate(old.id, w.nodes.map((n) => n.id));
    const steppedDown = await w.until(() => statusOf(old)?.role !== 'leader', 3 * ELECTION_MS);
    expect(w, steppedDown, `isolated leader ${old.id} still leads after ${3 * ELECTION_MS} ms`);
    const next = await waitLeader(w, (n) => n !== old, 5_000);
    if (!expect(w, next !== null, 'the majority elected no leader')) return;
    expect(w, next!.status.term > l!.status.term, 'the new leader did not take a higher term');
    w.network.heal();
    const follows = await w.until(() => statusOf(old)?.leader === next!.node.id && statusOf(old)?.role === 'follower', 3_000);
    expect(w, follows, `${old.id} does not follow ${next!.node.id} after healing`);
  },
};

const prevoteRejoin: Scenario = {
  name: 'prevote-rejoin',
  description: 'Thesis §9.6: a follower partitioned away keeps its term (PreVote fails); when it returns it does not depose the leader.',
  nodes: 3,
  async script(w) {
    const l = await waitLeader(w);
    if (!expect(w, l !== null, 'no leader was elected')) return;
    await waitInSync(w);
    const leader = l!.node;
    const term = l!.status.term;
    const follower = others(w, leader)[0]!;
    w.network.isolate(follower.id, w.nodes.map((n) => n.id));
    await w.scheduler.sleep(8 * ELECTION_MS);
    expect(w, statusOf(follower)?.term === term, `the isolated follower moved to term ${statusOf(follower)?.term} (PreVote should keep it at ${term})`);
    w.network.heal();
    await w.scheduler.sleep(4 * ELECTION_MS);
    const after = w.operator.leader();
    expect(w, after?.node === leader && after.status.term === term, `the rejoining follower disrupted the leader (leader now ${after?.node.id} in term ${after?.status.term})`);
  },
};

const addLearnerPromote: Scenario = {
  name: 'add-learner-promote',
  description: 'Thesis §4.2.1: a new node joins as a learner, catches up without voting, then is promoted to voter.',
  nodes: 3,
  spareNodes: ['n4'],
  async script(w) {
    const l = await waitLeader(w);
    if (!expect(w, l !== null, 'no leader was elected')) return;
    await writeMany(w, 20);
    const leader = l!.node;
    const n4 = w.node('n4')!;
    void n4.boot(null);
    await leader.replica!.addNode('n4', n4.url, 'learner').catch((e: unknown) => expect(w, false, `adding the learner failed: ${String(e)}`));
    const caughtUp = await w.until(() => {
      const s = statusOf(leader);
      return s !== null && (s.progress['n4']?.match ?? 0) >= s.commitIndex;
    }, 10_000);
    if (!expect(w, caughtUp, 'the learner did not catch up')) return;
    expect(w, statusOf(n4)?.learner === true && statusOf(n4)?.role === 'follower', 'n4 is not a following learner before promotion');
    let promoted = false;
    for (let attempt = 0; attempt < 10 && !promoted; attempt++) {
      promoted = await leader.replica!.addNode('n4', n4.url, 'voter').then(
        () => true,
        async () => {
          await w.scheduler.sleep(200);
          return false;
        },
      );
    }
    if (!expect(w, promoted, 'promoting n4 failed')) return;
    const voters = statusOf(leader)?.members.filter((m) => m.role !== 'learner').map((m) => m.id) ?? [];
    expect(w, voters.includes('n4') && voters.length === 4, `after promotion the voters are ${voters.join(',')}`);
  },
};

const removeLeader: Scenario = {
  name: 'remove-leader',
  description: 'Thesis §4.2.2: the leader removes itself; it steps down once the change commits and the rest elect a leader.',
  nodes: 3,
  async script(w) {
    const l = await waitLeader(w);
    if (!expect(w, l !== null, 'no leader was elected')) return;
    await waitInSync(w);
    const old = l!.node;
    await old.replica!.removeNode(old.id).catch((e: unknown) => expect(w, false, `removeNode(${old.id}) failed: ${String(e)}`));
    const next = await waitLeader(w, (n) => n !== old, 5_000);
    if (!expect(w, next !== null, 'no new leader after the leader removed itself')) return;
    expect(w, !next!.status.members.some((m) => m.id === old.id), `${old.id} is still a member`);
    expect(w, statusOf(old)?.role !== 'leader', `${old.id} still leads after its removal`);
  },
};

const snapshotCatchup: Scenario = {
  name: 'snapshot-catchup',
  description: 'Raft §7: a follower down while the leader compacted its log catches up through a chunked snapshot, then the log.',
  nodes: 3,
  async script(w) {
    const l = await waitLeader(w);
    if (!expect(w, l !== null, 'no leader was elected')) return;
    await waitInSync(w);
    const follower = others(w, l!.node)[0]!;
    const lastIndex = statusOf(follower)!.lastIndex;
    follower.crash(false);
    await writeMany(w, 70);
    const leader = w.operator.leader();
    if (!expect(w, leader !== null, 'no leader after the writes')) return;
    expect(w, leader!.status.snapshotIndex > lastIndex + 10, `the leader did not compact past the follower's log (snapshot ${leader!.status.snapshotIndex}, follower at ${lastIndex})`);
    const installedBefore = w.checkers.installedBy.get(follower.id) ?? 0;
    void follower.boot(null);
    const caughtUp = await w.until(() => {
      const s = w.operator.leader()?.status;
      return s !== undefined && statusOf(follower)?.appliedIndex === s.commitIndex;
    }, 10_000);
    expect(w, caughtUp, `${follower.id} did not catch up`);
    expect(w, (w.checkers.installedBy.get(follower.id) ?? 0) > installedBefore, `${follower.id} caught up without installing a snapshot`);
  },
};

const diskWipeRejoin: Scenario = {
  name: 'disk-wipe-rejoin',
  description: 'A follower loses its disk; the operator removes it, starts it empty, adds it back as a learner (it receives a snapshot and the log) and promotes it.',
  nodes: 3,
  async script(w) {
    const l = await waitLeader(w);
    if (!expect(w, l !== null, 'no leader was elected')) return;
    await writeMany(w, 60);
    const follower = others(w, w.operator.leader()?.node ?? l!.node)[0]!;
    const installedBefore = w.checkers.installedBy.get(follower.id) ?? 0;
    follower.wipe();
    w.operator.rebuild(follower);
    const rejoined = await w.until(() => {
      const s = w.operator.leader()?.status;
      return !w.operator.procedures.has(follower.id) && s !== undefined && s.members.some((m) => m.id === follower.id && m.role !== 'learner') && statusOf(follower)?.appliedIndex === s.commitIndex;
    }, 30_000);
    expect(w, rejoined, `${follower.id} did not rejoin as a caught-up voter`);
    expect(w, (w.checkers.installedBy.get(follower.id) ?? 0) > installedBefore, `${follower.id} rejoined without installing a snapshot`);
  },
};

const partitionMajorityMinority: Scenario = {
  name: 'partition-majority-minority',
  description: 'A 3–2 split with the leader in the minority: the minority commits nothing, the majority elects a leader and commits, and all converge after healing.',
  nodes: 5,
  async script(w) {
    const l = await waitLeader(w);
    if (!expect(w, l !== null, 'no leader was elected')) return;
    await waitInSync(w);
    const leader = l!.node;
    const minority = [leader, others(w, leader)[0]!];
    const majority = w.nodes.filter((n) => !minority.includes(n));
    const commitBefore = statusOf(leader)?.commitIndex ?? 0;
    w.network.partition([minority.map((n) => n.id), majority.map((n) => n.id)]);
    const next = await waitLeader(w, (n) => majority.includes(n), 5_000);
    if (!expect(w, next !== null, 'the majority elected no leader')) return;
    await w.scheduler.sleep(3_000);
    for (const n of minority) {
      const s = statusOf(n);
      expect(w, s === null || s.commitIndex <= commitBefore, `${n.id} in the minority committed up to ${s?.commitIndex} (was ${commitBefore})`);
      expect(w, s === null || s.role !== 'leader' || s.term < next!.status.term, `${n.id} in the minority still leads`);
    }
    const majorityCommit = w.operator.leader()?.status.commitIndex ?? 0;
    expect(w, majorityCommit > commitBefore, `the majority committed nothing (commit ${majorityCommit})`);
    w.network.heal();
  },
};

/** Strip entries of terms newer than `term` from appends (a scripted network
 *  that lets only the old entries through, as in Figure 8 (c)). */
function onlyEntriesUpTo(term: number): (m: Message) => Message | null {
  return (m) => {
    if (m.type !== 'append') return m;
    const cut = m.entries.findIndex((e) => e.term > term);
    return cut === -1 ? m : { ...m, entries: m.entries.slice(0, cut) };
  };
}

interface Figure8State {
  index: number;
  termOfS5: number;
  x: WriteOp | null;
  setupFailed: boolean;
}
const figure8States = new WeakMap<World, Figure8State>();
function figure8State(w: World): Figure8State {
  let st = figure8States.get(w);
  if (st === undefined) figure8States.set(w, (st = { index: 0, termOfS5: 0, x: null, setupFailed: false }));
  return st;
}

const figure8: Scenario = {
  name: 'figure8',
  description:
    'Raft paper Figure 8: an entry of an old term stored on a majority is not committed by counting replicas; a later leader may overwrite it. With --inject-bug commit-old-term it is committed, then overwritten: the checkers catch it.',
  nodes: 5,
  // One entry per append, so an old entry and the new leader's no-op travel separately.
  raft: { maxAppendBytes: 1 },
  workload: false,
  async script(w) {
    const st = figure8State(w);
    const setup = (ok: boolean, what: string): boolean => {
      if (!ok) {
        st.setupFailed = true;
        expect(w, false, `figure8 setup: ${what}`);
      }
      return ok;
    };
    const l1 = await waitLeader(w);
    if (!setup(l1 !== null, 'no first leader')) return;
    if (!setup(await waitInSync(w), 'logs did not converge')) return;
    const s1 = l1!.node;
    const term1 = l1!.status.term;
    const [s2, ...rest] = others(w, s1) as [SimNode, ...SimNode[]];
    const i = l1!.status.lastIndex + 1;
    st.index = i;
    // (a) S1 (term 1) stores X at index i on S2 only.
    w.network.partition([[s1.id, s2.id], rest.map((n) => n.id)]);
    st.x = proposeAt(w, s1);
    if (!setup(await w.until(() => s2.replica?.termAt(i) === term1, 2_000), 'X did not reach S2')) return;
    w.network.transform = onlyEntriesUpTo(term1);
    // (b) S1 crashes; S5 (one of the rest) is elected and appends its own entry
    //     at index i (its no-op, which cannot spread), then crashes too.
    s1.crash(false);
    const l2 = await waitAnyLeader(w, (n) => rest.includes(n), 5_000);
    if (!setup(l2 !== null, 'no leader among S3–S5')) return;
    const s5 = l2!.node;
    st.termOfS5 = l2!.status.term;
    if (!setup(s5.replica!.termAt(i) === st.termOfS5, `S5's entry is not at index ${i}`)) return;
    s5.crash(false);
    const [s3, s4] = rest.filter((n) => n !== s5) as [SimNode, SimNode];
    // (c) S1 restarts and only it can win (S2 is cut from S3 and S4). It sends
    //     X to S3 in an append of its own; its no-op of the new term is held back.
    w.network.heal();
    for (const n of [s3, s4]) {
      w.network.cutLink(s2.id, n.id);
      w.network.cutLink(n.id, s2.id);
    }
    void s1.boot(null);
    const l3 = await waitAnyLeader(w, (n) => n === s1, 8_000);
    if (!setup(l3 !== null, 'S1 was not re-elected')) return;
    if (!setup(await w.until(() => s3.replica?.termAt(i) === term1, 3_000), 'X did not reach S3')) return;
    // X is now on S1, S2, S3: a majority. Counting replicas must not commit it.
    await w.scheduler.sleep(4 * ELECTION_MS);
    // (d) S1 crashes; S5 restarts and wins with S3's and S4's votes (its last
    //     term is newer than X's), replacing X at index i.
    s1.crash(false);
    w.network.transform = null;
    void s5.boot(null);
    const l4 = await waitAnyLeader(w, (n) => n === s5, 8_000);
    if (!setup(l4 !== null, 'S5 was not re-elected')) return;
    await w.until(() => (s3.replica?.appliedIndex ?? 0) >= i && (s4.replica?.appliedIndex ?? 0) >= i, 3_000);
    w.network.heal();
    void s1.boot(null);
  },
  check(w) {
    const st = figure8State(w);
    if (st.setupFailed || st.index === 0) return;
    const applied = w.checkers.applied.get(st.index);
    expect(w, applied !== undefined && applied.term === st.termOfS5, `index ${st.index} was applied with term ${applied?.term}, expected S5's entry (term ${st.termOfS5})`);
    expect(w, st.x?.outcome !== 'ok', 'X (only ever on a minority-then-majority of an old term) was acknowledged');
  },
};

export const SCENARIOS: Readonly<Record<ScenarioName, Scenario>> = {
  figure8,
  'prevote-rejoin': prevoteRejoin,
  'checkquorum-isolated-leader': checkQuorumIsolatedLeader,
  'leader-transfer': leaderTransfer,
  'add-learner-promote': addLearnerPromote,
  'remove-leader': removeLeader,
  'snapshot-catchup': snapshotCatchup,
  'disk-wipe-rejoin': diskWipeRejoin,
  'partition-majority-minority': partitionMajorityMinority,
};
