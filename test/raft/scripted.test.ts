// Scripted Raft scenarios: each file in test/raft/scripts/ is a list of
// blocks — command lines, a `----` line, then the expected output — in the
// manner of etcd-io/raft's testdata. New scenarios cost a few lines of text.
// Run with REWRITE=1 to regenerate the expected output after a deliberate
// behaviour change (then review the diff).
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { TestCluster } from './cluster-harness.js';
import type { RaftConfig } from '../../src/raft/types.js';

const SCRIPTS_DIR = 'test/raft/scripts';

interface Block {
  commands: string[];
  expected: string[];
}

function parse(text: string): Block[] {
  const blocks: Block[] = [];
  let commands: string[] = [];
  let expected: string[] | null = null;
  const flush = (): void => {
    if (commands.length > 0) blocks.push({ commands, expected: expected ?? [] });
    commands = [];
    expected = null;
  };
  for (const raw of text.split('\n')) {
    const line = raw.trimEnd();
    if (expected === null) {
      if (line === '' || line.startsWith('#')) continue;
      if (line === '----') expected = [];
      else commands.push(line);
    } else if (line === '') {
      flush();
    } else {
      expected.push(line);
    }
  }
  flush();
  return blocks;
}

function render(blocks: Block[], outputs: string[][], header: string): string {
  return (
    header +
    blocks
      .map((b, i) => [...b.commands, '----', ...(outputs[i]!.length > 0 ? outputs[i]! : ['ok'])].join('\n'))
      .join('\n\n') +
    '\n'
  );
}

/** Interprets one command against the cluster; returns output lines. */
class Interpreter {
  cluster: TestCluster | null = null;

  run(line: string): string[] {
    const [cmd, ...args] = line.split(/\s+/);
    const c = (): TestCluster => {
      if (this.cluster === null) throw new Error('no cluster: start with `cluster`');
      return this.cluster;
    };
    const opts = Object.fromEntries(args.filter((a) => a.includes('=')).map((a) => a.split('=') as [string, string]));
    const words = args.filter((a) => !a.includes('='));
    switch (cmd) {
      case 'cluster': {
        const raft: Partial<RaftConfig> = {};
        if (opts.prevote !== undefined) raft.preVote = opts.prevote === 'true';
        if (opts.checkquorum !== undefined) raft.checkQuorum = opts.checkquorum === 'true';
        const learners = opts.learners?.split(',') ?? [];
        this.cluster = new TestCluster(words, { seed: Number(opts.seed ?? 1), raft, learners });
        return [];
      }
      case 'campaign':
        c().campaign(words[0]!);
        return [];
      case 'elect':
        return [`leader=${c().electLeader()}`];
      case 'propose': {
        const r = c().propose(words[0]!, words[1] ?? '');
        return [r.ok ? `ok index=${r.index} term=${r.term}` : `error ${r.error.code}`];
      }
      case 'stabilize':
        c().stabilize();
        return [];
      case 'tick':
        c().tickAll(Number(words[0] ?? 1));
        return [];
      case 'isolate':
        c().isolate(words[0]!);
        return [];
      case 'partition':
        c().partition(...words.map((g) => g.split(',')));
        return [];
      case 'heal':
        c().heal();
        return [];
      case 'crash':
        c().crash(words[0]!);
        return [];
      case 'restart':
        c().restart(words[0]!);
        return [];
      case 'add-node':
        c().addNode(words[0]!);
        return [];
      case 'snapshot': {
        const meta = c().snapshotAndCompact(words[0]!, Number(opts.keep ?? 0));
        return [`snapshot index=${meta.index} term=${meta.term}`];
      }
      case 'config-change': {
        const [node, op, target] = words as [string, 'add-learner' | 'add-voter' | 'remove', string];
        const r = c().raft(node).proposeConfigChange({ op, nodeId: target, context: opts.url ?? '' });
        return [r.ok ? `ok index=${r.index}` : `error ${r.error.code}`];
      }
      case 'transfer': {
        const r = c().raft(words[0]!).transferLeadership(words[1]!);
        return [r.ok ? 'ok' : `error ${r.error.code}`];
      }
      case 'read-index': {
        const r = c().raft(words[0]!).readIndex(words[1]!);
        return [r.ok ? 'ok' : `error ${r.error.code}`];
      }
      case 'reads': {
        const n = c().node(words[0]!);
        return [...n.readStates.map((r) => `read ${r.requestId} index=${r.index}`), ...n.readFailures.map((f) => `failed ${f.requestId} ${f.code}`)];
      }
      case 'status':
        return (words.length > 0 ? words : [...c().nodes.keys()]).map((id) => {
          const s = c().raft(id).status();
          return `${id}: role=${s.role} term=${s.term} leader=${s.leader ?? '-'} commit=${s.commit} last=${s.lastIndex} voters=${s.config.voters.join(',')}${s.config.learners.length > 0 ? ` learners=${s.config.learners.join(',')}` : ''}`;
        });
      case 'applied':
        return (words.length > 0 ? words : [...c().nodes.keys()]).map((id) => `${id}: ${c().node(id).applied.map((a) => a.data).join(' ') || '-'}`);
      default:
        throw new Error(`unknown command ${cmd}`);
    }
  }
}

describe('scripted Raft scenarios (test/raft/scripts)', () => {
  const files = readdirSync(SCRIPTS_DIR).filter((f) => f.endsWith('.txt')).sort();

  it('has scripts to run', () => {
    expect(files.length).toBeGreaterThanOrEqual(4);
  });

  for (const file of files) {
    it(file.replace(/\.txt$/, ''), () => {
      const path = join(SCRIPTS_DIR, file);
      const text = readFileSync(path, 'utf8');
      const header = text.split('\n').filter((l, i, all) => l.startsWith('#') && all.slice(0, i).every((x) => x.startsWith('#'))).join('\n');
      const blocks = parse(text);
      const interp = new Interpreter();
      const outputs = blocks.map((b) => b.commands.flatMap((cmd) => interp.run(cmd)));
      if (process.env.REWRITE === '1') {
        writeFileSync(path, render(blocks, outputs, header.length > 0 ? `${header}\n\n` : ''));
        return;
      }
      blocks.forEach((b, i) => {
        const got = outputs[i]!.length > 0 ? outputs[i]! : ['ok'];
        expect(got, `${file}: after\n${b.commands.join('\n')}`).toEqual(b.expected);
      });
    });
  }
});
