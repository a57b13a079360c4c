// A cluster of real TsraftNodes inside the test process (real LevelDB in temp
// folders, real WebSockets and HTTP on 127.0.0.1), for tests that must reach
// into one node's memory — the scrubber's test flips a byte of a segment
// there. Everything started is stopped by destroy().
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseNodeConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/node/logger.js';
import { TsraftNode } from '../../src/node/node.js';
import { freePorts, sleep } from '../node/process-harness.js';

export class InProcessCluster {
  readonly root = mkdtempSync(join(tmpdir(), 'tsraft-inproc-'));
  readonly nodes = new Map<string, TsraftNode>();
  readonly logs = new Map<string, string[]>();
  readonly fatal: unknown[] = [];
  private constructor(readonly ids: string[], private readonly ports: number[], private readonly extra: Record<string, unknown>) {}

  static async start(count: number, extra: Record<string, unknown> = {}): Promise<InProcessCluster> {
    const ids = Array.from({ length: count }, (_, i) => `n${i + 1}`);
    const cluster = new InProcessCluster(ids, await freePorts(count * 2), extra);
    await Promise.all(ids.map((id) => cluster.startNode(id)));
    return cluster;
  }

  url(id: string): string {
    return `http://127.0.0.1:${this.ports[this.ids.indexOf(id) * 2]!}`;
  }

  node(id: string): TsraftNode {
    const node = this.nodes.get(id);
    if (node === undefined) throw new Error(`${id} is not running`);
    return node;
  }

  async startNode(id: string): Promise<TsraftNode> {
    const i = this.ids.indexOf(id);
    const peers = Object.fromEntries(this.ids.map((n, k) => [n, `ws://127.0.0.1:${this.ports[k * 2 + 1]!}`]));
    const clientUrls = Object.fromEntries(this.ids.map((n, k) => [n, `http://127.0.0.1:${this.ports[k * 2]!}`]));
    const config = parseNodeConfig(
      { nodeId: id, clusterId: 'inproc', dataDir: id, secret: 'in-process-cluster-secret-0123456789', httpPort: this.ports[i * 2], peerPort: this.ports[i * 2 + 1], peers, clientUrls, shutdownTimeoutMs: 2_000, ...this.extra },
      { baseDir: this.root, configPath: null },
    );
    const lines: string[] = [];
    this.logs.set(id, lines);
    const log = createLogger({ nodeId: id, level: 'debug', write: (line) => void (lines.length < 20_000 && lines.push(line)) });
    const node = await TsraftNode.start(config, log, { onFatal: (error) => this.fatal.push(error) });
    this.nodes.set(id, node);
    return node;
  }

  async waitFor<T>(what: string, timeoutMs: number, check: () => T | null | undefined | false | Promise<T | null | undefined | false>): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    let last: unknown = null;
    while (Date.now() < deadline) {
      try {
        const value = await check();
        if (value !== null && value !== undefined && value !== false) return value;
      } catch (error) {
        last = error;
      }
      await sleep(50);
    }
    throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last === null ? '' : ` (${(last as Error).message})`}`);
  }

  async leader(): Promise<string> {
    return this.waitFor('a leader', 20_000, () => {
      const statuses = [...this.nodes.values()].map((n) => n.status());
      const leader = statuses[0]?.leader ?? null;
      return leader !== null && statuses.every((s) => s.leader === leader) ? leader : null;
    });
  }

  /** Waits until every node applied the same index with the same state. */
  async converged(): Promise<number> {
    return this.waitFor('convergence', 20_000, () => {
      const nodes = [...this.nodes.values()];
      const index = nodes[0]!.replica.appliedIndex;
      const hash = nodes[0]!.stateMachine.stateHash();
      return nodes.every((n) => n.replica.appliedIndex === index && n.stateMachine.stateHash() === hash) ? index : null;
    });
  }

  async destroy(): Promise<void> {
    for (const node of this.nodes.values()) await node.stop();
    this.nodes.clear();
    if (process.env.TSRAFT_KEEP_TEST_DATA === undefined) rmSync(this.root, { recursive: true, force: true });
  }

}
