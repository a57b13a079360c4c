// InstrumentedTransport: Raft round trips per peer, measured between an append
// (or heartbeat) leaving and its answer arriving, over an in-process transport
// whose delivery the test drives, with a clock the test sets.
import { describe, expect, it } from 'vitest';
import { createMetricFamilies, type MetricFamilies } from '../../src/metrics/definitions.js';
import { InstrumentedTransport, MAX_TRACKED_APPENDS_PER_PEER } from '../../src/metrics/instrumented-transport.js';
import type { Message, NodeId } from '../../src/raft/types.js';
import type { Transport } from '../../src/transport/types.js';

/** Records what the leader sends; the test injects the peers' answers. */
class ScriptedTransport implements Transport {
  readonly sent: Message[] = [];
  peers: Record<NodeId, string> = {};
  private handler: ((m: Message) => void) | null = null;
  send(messages: Message[]): void {
    this.sent.push(...messages);
  }
  onMessage(handler: (m: Message) => void): void {
    this.handler = handler;
  }
  setPeers(peers: Record<NodeId, string>): void {
    this.peers = peers;
  }
  deliver(m: Message): void {
    this.handler?.(m);
  }
  async close(): Promise<void> {}
}

function setup(): { inner: ScriptedTransport; transport: InstrumentedTransport; families: MetricFamilies; clock: { now: number }; received: Message[] } {
  const { families } = createMetricFamilies();
  const inner = new ScriptedTransport();
  const clock = { now: 100 };
  const transport = new InstrumentedTransport(inner, families, () => clock.now);
  const received: Message[] = [];
  transport.onMessage((m) => received.push(m));
  transport.setPeers({ n2: 'ws://n2', n3: 'ws://n3' });
  return { inner, transport, families, clock, received };
}

const append = (to: string, prevIndex: number, count: number): Message => ({
  type: 'append',
  from: 'n1',
  to,
  term: 2,
  prevIndex,
  prevTerm: 2,
  entries: Array.from({ length: count }, (_, i) => ({ index: prevIndex + 1 + i, term: 2, kind: 'normal' as const, data: new Uint8Array(1) })),
  commit: prevIndex,
});
const appendResp = (from: string, index: number, reject = false): Message => ({ type: 'append-resp', from, to: 'n1', term: 2, reject, index, hintIndex: 0, hintTerm: 0 });
const heartbeat = (to: string): Message => ({ type: 'heartbeat', from: 'n1', to, term: 2, commit: 0, readRound: 0 });
const heartbeatResp = (from: string): Message => ({ type: 'heartbeat-resp', from, to: 'n1', term: 2, readRound: 0 });

async function observations(families: MetricFamilies, peer: string, message: string): Promise<{ count: number; sum: number }> {
  const { values } = await families.roundTrip.get();
  const pick = (suffix: string): number => values.find((v) => v.metricName === `tsraft_raft_round_trip_seconds${suffix}` && v.labels.peer === peer && v.labels.message === message)?.value ?? 0;
  return { count: pick('_count'), sum: pick('_sum') };
}

describe('InstrumentedTransport', () => {
  it('times an append from sending it to the acknowledgement of its last entry', async () => {
    const { inner, transport, families, clock } = setup();
    transport.send([append('n2', 5, 2)]);
    clock.now += 0.004;
    inner.deliver(appendResp('n2', 7));
    const seen = await observations(families, 'n2', 'append');
    expect(seen.count).toBe(1);
    expect(seen.sum).toBeCloseTo(0.004, 9);
  });

  it('times pipelined appends each from its own send when each is acknowledged', async () => {
    const { inner, transport, families, clock } = setup();
    transport.send([append('n2', 0, 1)]);
    clock.now += 0.001;
    transport.send([append('n2', 1, 1)]);
    clock.now += 0.002;
    inner.deliver(appendResp('n2', 1));
    inner.deliver(appendResp('n2', 2));
    const seen = await observations(families, 'n2', 'append');
    expect(seen.count).toBe(2);
    expect(seen.sum).toBeCloseTo(0.003 + 0.002, 9);
  });

  it('does not time appends whose answer is a rejection', async () => {
    const { inner, transport, families, clock } = setup();
    transport.send([append('n2', 9, 1)]);
    clock.now += 0.01;
    inner.deliver(appendResp('n2', 9, true));
    inner.deliver(appendResp('n2', 10));
    expect((await observations(families, 'n2', 'append')).count).toBe(0);
  });

  it('times a heartbeat round from the oldest unanswered heartbeat', async () => {
    const { inner, transport, families, clock } = setup();
    transport.send([heartbeat('n3')]);
    clock.now += 0.05;
    transport.send([heartbeat('n3')]);
    clock.now += 0.01;
    inner.deliver(heartbeatResp('n3'));
    inner.deliver(heartbeatResp('n3'));
    const seen = await observations(families, 'n3', 'heartbeat');
    expect(seen.count).toBe(1);
    expect(seen.sum).toBeCloseTo(0.06, 9);
  });

  it('passes every message through unchanged and in order, both ways', () => {
    const { inner, transport, received } = setup();
    const out = [append('n2', 0, 1), heartbeat('n3'), append('n3', 0, 2)];
    transport.send(out);
    expect(inner.sent).toEqual(out);
    const answers = [appendResp('n2', 1), heartbeatResp('n3'), appendResp('n3', 2, true)];
    for (const m of answers) inner.deliver(m);
    expect(received).toEqual(answers);
    expect(inner.peers).toEqual({ n2: 'ws://n2', n3: 'ws://n3' });
  });

  it('forgets a removed peer and drops its round-trip series', async () => {
    const { inner, transport, families, clock } = setup();
    transport.send([heartbeat('n2')]);
    clock.now += 0.001;
    inner.deliver(heartbeatResp('n2'));
    expect((await observations(families, 'n2', 'heartbeat')).count).toBe(1);
    transport.setPeers({ n3: 'ws://n3' });
    expect((await observations(families, 'n2', 'heartbeat')).count).toBe(0);
    expect(transport.trackedPeers).toBe(0);
    expect(inner.peers).toEqual({ n3: 'ws://n3' });
  });

  it('counts a snapshot as sent once the follower answers that it installed it', async () => {
    const { inner, families } = setup();
    inner.deliver({ type: 'snapshot-resp', from: 'n2', to: 'n1', term: 2, snapshotIndex: 50, nextOffset: 100, done: false, reject: false });
    inner.deliver({ type: 'snapshot-resp', from: 'n2', to: 'n1', term: 2, snapshotIndex: 50, nextOffset: 200, done: true, reject: false });
    expect((await families.snapshotsSent.get()).values[0]!.value).toBe(1);
  });

  it('remembers a bounded number of unanswered appends per peer', async () => {
    const { inner, transport, families, clock } = setup();
    for (let i = 0; i < MAX_TRACKED_APPENDS_PER_PEER + 10; i++) transport.send([append('n2', i, 1)]);
    clock.now += 1;
    // The oldest sends were forgotten: acknowledging them times nothing.
    inner.deliver(appendResp('n2', 5));
    expect((await observations(families, 'n2', 'append')).count).toBe(0);
    inner.deliver(appendResp('n2', MAX_TRACKED_APPENDS_PER_PEER + 10));
    expect((await observations(families, 'n2', 'append')).count).toBe(1);
  });
});
