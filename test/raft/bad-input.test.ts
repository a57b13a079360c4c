// Bad input never crashes the core: malformed, misaddressed, stale or
// out-of-range messages are dropped inside step().
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TestCluster } from './cluster-harness.js';

describe('bad input to step()', () => {
  it('drops malformed messages without throwing', () => {
    const c = new TestCluster(['n1', 'n2', 'n3']);
    const leader = c.electLeader();
    const r = c.raft(leader);
    const before = r.status();
    const garbage: unknown[] = [
      null,
      undefined,
      42,
      'append',
      [],
      {},
      { type: 'append', from: 'n2', to: leader },
      { type: 'append', from: 'n2', to: leader, term: -1, prevIndex: 0, prevTerm: 0, entries: [], commit: 0 },
      { type: 'append', from: 'n2', to: leader, term: 1.5, prevIndex: 0, prevTerm: 0, entries: [], commit: 0 },
      { type: 'append', from: 'n2', to: leader, term: 99, prevIndex: 0, prevTerm: 0, entries: [{ index: 'x' }], commit: 0 },
      { type: 'append-resp', from: 'n2', to: leader, term: before.term, reject: false, index: 1e12, hintIndex: 0, hintTerm: 0 },
      { type: 'nonsense', from: 'n2', to: leader, term: before.term },
      { type: 'vote', from: 'n2', to: 'someone-else', term: 99, lastIndex: 0, lastTerm: 0, transfer: false },
      { type: 'vote', from: leader, to: leader, term: 99, lastIndex: 0, lastTerm: 0, transfer: false },
      { type: 'snapshot', from: 'n2', to: leader, term: 0, meta: { index: 1 }, offset: 0, length: 0, data: new Uint8Array(), done: true },
      { type: 'heartbeat', from: 'n2', to: leader, term: before.term, commit: Number.MAX_SAFE_INTEGER + 10, readRound: 0 },
      { type: 'read-index', from: 'n2', to: leader, term: before.term, requestId: '' },
    ];
    for (const g of garbage) expect(() => r.step(g)).not.toThrow();
    c.stabilize();
    const after = r.status();
    expect(after.role).toBe('leader');
    expect(after.term).toBe(before.term);
    expect(after.commit).toBe(before.commit);
  });

  it('ignores responses from unknown peers', () => {
    const c = new TestCluster(['n1', 'n2', 'n3']);
    const leader = c.electLeader();
    c.raft(leader).step({ type: 'append-resp', from: 'intruder', to: leader, term: c.raft(leader).status().term, reject: false, index: 100, hintIndex: 0, hintTerm: 0 });
    expect(c.raft(leader).status().progress['intruder']).toBeUndefined();
  });

  it('an append claiming an index far beyond the log is rejected, not applied', () => {
    const c = new TestCluster(['n1', 'n2', 'n3']);
    const leader = c.electLeader();
    const follower = ['n1', 'n2', 'n3'].find((id) => id !== leader)!;
    const term = c.raft(leader).status().term;
    c.raft(follower).step({ type: 'append', from: leader, to: follower, term, prevIndex: 1000, prevTerm: term, entries: [], commit: 2000 });
    const rd = c.raft(follower).ready();
    expect(rd.messages.some((m) => m.type === 'append-resp' && m.reject)).toBe(true);
    expect(c.raft(follower).status().commit).toBeLessThan(1000);
    c.raft(follower).advance(rd);
  });

  it('survives any random object thrown at it (fast-check)', () => {
    const c = new TestCluster(['n1', 'n2', 'n3']);
    c.electLeader();
    const types = ['prevote', 'prevote-resp', 'vote', 'vote-resp', 'append', 'append-resp', 'heartbeat', 'heartbeat-resp', 'snapshot', 'snapshot-resp', 'timeout-now', 'read-index', 'read-index-resp'];
    const msg = fc.record(
      {
        type: fc.constantFrom(...types),
        from: fc.constantFrom('n1', 'n2', 'n3', 'x'),
        to: fc.constantFrom('n1', 'n2', 'n3'),
        term: fc.oneof(fc.nat(10), fc.double(), fc.constant(-1)),
        lastIndex: fc.nat(50),
        lastTerm: fc.nat(10),
        transfer: fc.boolean(),
        reject: fc.boolean(),
        prevIndex: fc.nat(50),
        prevTerm: fc.nat(10),
        commit: fc.nat(60),
        index: fc.nat(60),
        hintIndex: fc.nat(60),
        hintTerm: fc.nat(10),
        readRound: fc.nat(5),
        requestId: fc.string({ maxLength: 3 }),
        entries: fc.array(fc.record({ index: fc.nat(60), term: fc.nat(10), kind: fc.constantFrom('normal', 'config', 'other'), data: fc.uint8Array({ maxLength: 8 }) }), { maxLength: 4 }),
      },
      { requiredKeys: ['type', 'from', 'to', 'term'] },
    );
    fc.assert(
      fc.property(fc.array(msg, { maxLength: 30 }), (msgs) => {
        for (const m of msgs) {
          expect(() => c.raft(m.to).step(m)).not.toThrow();
        }
      }),
      { numRuns: 300 },
    );
    // Messages with higher terms may legitimately depose the leader; the
    // cluster must still recover and commit.
    c.tickAll(60);
    const leader2 = c.electLeader();
    expect(c.propose(leader2, 'after-barrage').ok).toBe(true);
    c.stabilize();
    expect(c.node(leader2).applied.some((a) => a.data === 'after-barrage')).toBe(true);
  });
});

describe('purity of src/raft', () => {
  it('imports nothing that does I/O, reads a clock or draws randomness', async () => {
    const { readdirSync, readFileSync } = await import('node:fs');
    const files = readdirSync('src/raft').filter((f) => f.endsWith('.ts'));
    expect(files.length).toBeGreaterThan(5);
    for (const f of files) {
      const src = readFileSync(`src/raft/${f}`, 'utf8');
      const imports = [...src.matchAll(/from\s+['"]([^'"]+)['"]/g)].map((m) => m[1]!);
      for (const spec of imports) expect(spec, `${f} imports ${spec}`).toMatch(/^\.\.?\//);
      for (const spec of imports) expect(['../errors.js'].includes(spec) || spec.startsWith('./'), `${f} imports ${spec}`).toBe(true);
      const code = src.replace(/\/\/.*$/gm, '');
      expect(code, f).not.toMatch(/Date\.now|new Date\(|Math\.random|setTimeout|setInterval|setImmediate|performance\.now|process\./);
    }
  });
});
