// Real `tsraft serve` processes on 127.0.0.1 for integration tests: each node
// is a child process running the built CLI (dist/src/cli/main.js; `make test`
// builds it first), with its own data directory under a temp folder and its
// log captured to a file there. Ports are picked free by the OS. Every wait
// is bounded; `destroy()` kills every process the harness started.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const MAIN_SCRIPT = resolve('dist/src/cli/main.js');

/** Fails with a clear message when the built CLI is missing or older than its sources. */
export function ensureBuilt(): void {
  if (!existsSync(MAIN_SCRIPT)) throw new Error(`${MAIN_SCRIPT} is missing: run \`npm run build\` (make test builds first)`);
  const builtAt = statSync(MAIN_SCRIPT).mtimeMs;
  const newest = newestSource(['src/cli', 'src/node', 'src/config', 'src/replica', 'src/transport', 'src/storage', 'src/raft']);
  const distNewest = newestSource(['dist/src/cli', 'dist/src/node', 'dist/src/config', 'dist/src/replica', 'dist/src/transport', 'dist/src/storage', 'dist/src/raft']);
  if (newest.mtimeMs > Math.max(builtAt, distNewest.mtimeMs) + 1000) {
    throw new Error(`dist/ is older than ${newest.path}: run \`npm run build\` before these tests`);
  }
}

function newestSource(dirs: string[]): { path: string; mtimeMs: number } {
  let best = { path: '', mtimeMs: 0 };
  const walk = (dir: string): void => {
    if (!existsSync(dir)) return;
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      const stat = statSync(path);
      if (stat.isDirectory()) walk(path);
      else if (stat.mtimeMs > best.mtimeMs && /\.(ts|js)$/.test(name) && !name.endsWith('.d.ts')) best = { path, mtimeMs: stat.mtimeMs };
    }
  };
  for (const dir of dirs) walk(dir);
  return best;
}

/** Ports are drawn below Linux's ephemeral range (32768+), so outgoing
 *  connections of other processes cannot take them between the draw and the bind. */
const PORT_RANGE_START = 20_000;
const PORT_RANGE_END = 32_000;

function canBind(port: number): Promise<boolean> {
  return new Promise((resolvePromise) => {
    const server = createServer();
    server.once('error', () => resolvePromise(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolvePromise(true)));
  });
}

/** `count` distinct ports that were free a moment ago. */
export async function freePorts(count: number): Promise<number[]> {
  const ports: number[] = [];
  for (let attempts = 0; ports.length < count; attempts += 1) {
    if (attempts > 1000) throw new Error('no free ports found');
    const port = PORT_RANGE_START + Math.floor(Math.random() * (PORT_RANGE_END - PORT_RANGE_START));
    if (!ports.includes(port) && (await canBind(port))) ports.push(port);
  }
  return ports;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolvePromise) => setTimeout(resolvePromise, ms));
}

/** Polls `check` every 50 ms until it returns a non-null value; throws after `timeoutMs`. */
export async function waitUntil<T>(what: string, timeoutMs: number, check: () => Promise<T | null | undefined | false>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown = null;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value !== null && value !== undefined && value !== false) return value;
    } catch (error) {
      lastError = error;
    }
    await sleep(50);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? ` (last error: ${(lastError as Error).message})` : ''}`);
}

export interface StatusBody {
  id: string;
  role: string;
  leader: string | null;
  leaderClientUrl: string | null;
  term: number;
  commitIndex: number;
  appliedIndex: number;
  lastIndex: number;
  snapshotIndex: number;
  lifecycle: string;
  members: Array<{ id: string; url: string; role: string; clientUrl: string | null; match: number | null }>;
  transport: { authFailures: number; handshakeFailures: number; peers: Record<string, { connected: boolean }> } | null;
}

export interface StateBody {
  appliedIndex: number;
  stateHash: string;
  pointCount: number;
  seriesCount: number;
}

export async function getJson<T>(url: string, timeoutMs = 2_000): Promise<{ status: number; body: T }> {
  const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  return { status: response.status, body: (await response.json()) as T };
}

export interface TestNode {
  id: string;
  httpPort: number;
  peerPort: number;
  dir: string;
  configPath: string;
  logPath: string;
  /** Overrides merged into the generated configuration. */
  extra: Record<string, unknown>;
  process: ChildProcess | null;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }> | null;
}

export interface ClusterOptions {
  nodes: number;
  /** Merged into every node's configuration. */
  config?: Record<string, unknown>;
}

/** Point written by put(): one series, distinct timestamps, so the point count counts writes. */
export const TEST_METRIC = 'test.writes';
const BASE_TIMESTAMP_MS = 1_700_000_000_000;

export class TestCluster {
  readonly root: string;
  readonly clusterId = `test-${randomBytes(4).toString('hex')}`;
  readonly secret = randomBytes(24).toString('hex');
  readonly nodes: TestNode[] = [];
  private readonly options: ClusterOptions;
  private readonly extraProcesses = new Set<ChildProcess>();
  /** Per spawned process: resolved when its output is all in its log file. */
  private readonly logFlushed = new WeakMap<ChildProcess, Promise<void>>();

  private constructor(options: ClusterOptions) {
    this.options = options;
    this.root = mkdtempSync(join(tmpdir(), 'tsraft-it-'));
    writeFileSync(join(this.root, 'secret'), this.secret + '\n', { mode: 0o600 });
  }

  /** Writes the configurations of `options.nodes` founding members (not started). */
  static async create(options: ClusterOptions): Promise<TestCluster> {
    ensureBuilt();
    const cluster = new TestCluster(options);
    const ports = await freePorts(options.nodes * 2);
    for (let i = 0; i < options.nodes; i += 1) {
      const id = `n${i + 1}`;
      cluster.nodes.push({
        id,
        httpPort: ports[2 * i]!,
        peerPort: ports[2 * i + 1]!,
        dir: join(cluster.root, id),
        configPath: join(cluster.root, `${id}.json`),
        logPath: join(cluster.root, `${id}.log`),
        extra: {},
        process: null,
        exited: null,
      });
    }
    for (const node of cluster.nodes) cluster.writeConfig(node);
    return cluster;
  }

  node(id: string): TestNode {
    const node = this.nodes.find((n) => n.id === id);
    if (node === undefined) throw new Error(`no node ${id}`);
    return node;
  }

  url(id: string): string {
    return `http://127.0.0.1:${this.node(id).httpPort}`;
  }

  peers(): Record<string, string> {
    const founding = this.nodes.slice(0, this.options.nodes);
    return Object.fromEntries(founding.map((n) => [n.id, `ws://127.0.0.1:${n.peerPort}`]));
  }

  /** The configuration a node is started with (before its `extra` overrides). */
  baseConfig(node: TestNode): Record<string, unknown> {
    const clientUrls = Object.fromEntries(this.nodes.map((n) => [n.id, `http://127.0.0.1:${n.httpPort}`]));
    return {
      nodeId: node.id,
      clusterId: this.clusterId,
      dataDir: node.id,
      secretFile: 'secret',
      httpPort: node.httpPort,
      peerPort: node.peerPort,
      peers: this.peers(),
      clientUrls,
      shutdownTimeoutMs: 5_000,
      ...this.options.config,
    };
  }

  writeConfig(node: TestNode): void {
    writeFileSync(node.configPath, JSON.stringify({ ...this.baseConfig(node), ...node.extra }, null, 2));
  }

  /** Adds a node that joins the running cluster (`join: true`); not started. */
  async addJoiningNode(id: string): Promise<TestNode> {
    const [httpPort, peerPort] = await freePorts(2);
    const node: TestNode = {
      id,
      httpPort: httpPort!,
      peerPort: peerPort!,
      dir: join(this.root, id),
      configPath: join(this.root, `${id}.json`),
      logPath: join(this.root, `${id}.log`),
      extra: { join: true },
      process: null,
      exited: null,
    };
    this.nodes.push(node);
    for (const n of this.nodes) this.writeConfig(n);
    return node;
  }

  start(id: string): TestNode {
    const node = this.node(id);
    if (node.process !== null && node.process.exitCode === null && node.process.signalCode === null) throw new Error(`${id} is already running`);
    this.writeConfig(node);
    const child = this.spawnCli(['serve', '--config', node.configPath], node.logPath);
    node.process = child;
    // Resolved once the process exited and everything it printed is in its log file.
    const flushed = this.logFlushed.get(child)!;
    node.exited = new Promise((resolvePromise) => child.once('exit', (code, signal) => void flushed.then(() => resolvePromise({ code, signal }))));
    return node;
  }

  startAll(): void {
    for (const node of this.nodes) this.start(node.id);
  }

  /** Runs the CLI with `args`; its output is appended to `logPath`. Killed by destroy(). */
  spawnCli(args: string[], logPath: string): ChildProcess {
    const log = createWriteStream(logPath, { flags: 'a' });
    const child = spawn(process.execPath, [MAIN_SCRIPT, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.pipe(log, { end: false });
    child.stderr!.pipe(log, { end: false });
    child.once('exit', () => this.extraProcesses.delete(child));
    // 'close' comes after both output pipes ended: then the log file gets the last lines.
    this.logFlushed.set(child, new Promise((resolvePromise) => child.once('close', () => log.end(() => resolvePromise()))));
    this.extraProcesses.add(child);
    return child;
  }

  /** Runs a CLI command to completion (bounded), returning its exit code and output. */
  async runCli(args: string[], timeoutMs = 30_000): Promise<{ code: number | null; output: string }> {
    const child = spawn(process.execPath, [MAIN_SCRIPT, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.extraProcesses.add(child);
    let output = '';
    child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    const code = await new Promise<number | null>((resolvePromise) => child.once('close', (c) => resolvePromise(c)));
    clearTimeout(timer);
    this.extraProcesses.delete(child);
    return { code, output };
  }

  log(id: string): string {
    const path = this.node(id).logPath;
    return existsSync(path) ? readFileSync(path, 'utf8') : '';
  }

  async status(id: string): Promise<StatusBody> {
    return (await getJson<StatusBody>(`${this.url(id)}/status`)).body;
  }

  async state(id: string): Promise<StateBody> {
    return (await getJson<StateBody>(`${this.url(id)}/cluster/state`)).body;
  }

  isRunning(id: string): boolean {
    const child = this.node(id).process;
    return child !== null && child.exitCode === null && child.signalCode === null;
  }

  running(): TestNode[] {
    return this.nodes.filter((n) => this.isRunning(n.id));
  }

  /** Exit status and last log lines of every node, for failure messages. */
  describe(): string {
    return this.nodes
      .map((n) => {
        const state = this.isRunning(n.id) ? 'running' : n.process === null ? 'never started' : `exited code=${n.process.exitCode} signal=${n.process.signalCode}`;
        const tail = this.log(n.id).trimEnd().split('\n').slice(-6).join('\n    ');
        return `${n.id} (${state}):\n    ${tail}`;
      })
      .join('\n');
  }

  /** waitUntil, with the nodes' state and log tails in the failure message. */
  async waitFor<T>(what: string, timeoutMs: number, check: () => Promise<T | null | undefined | false>): Promise<T> {
    try {
      return await waitUntil(what, timeoutMs, check);
    } catch (error) {
      throw new Error(`${(error as Error).message}\n${this.describe()}`);
    }
  }

  /** Waits until every running node agrees on one leader among them; returns its id. */
  async waitForLeader(timeoutMs = 15_000, among: string[] = this.running().map((n) => n.id)): Promise<string> {
    return this.waitFor(`a leader among ${among.join(',')}`, timeoutMs, async () => {
      const statuses = await Promise.all(among.map((id) => this.status(id)));
      const leader = statuses[0]!.leader;
      if (leader === null || !among.includes(leader)) return null;
      return statuses.every((s) => s.leader === leader) ? leader : null;
    });
  }

  /** Waits until every listed node has applied the same index and holds the same state. */
  async waitForConvergence(ids: string[], timeoutMs = 15_000): Promise<StateBody> {
    return this.waitFor(`${ids.join(',')} to converge`, timeoutMs, async () => {
      const states = await Promise.all(ids.map((id) => this.state(id)));
      const first = states[0]!;
      return states.every((s) => s.appliedIndex === first.appliedIndex && s.stateHash === first.stateHash) ? first : null;
    });
  }

  /**
   * Writes point number `n` (timestamp base + n ms) with OpenTSDB's
   * `POST /api/put?summary` through any running node (followers forward to
   * the leader), retrying elsewhere while there is no leader.
   * Resolves true once the write is acknowledged; false when `deadlineMs` passes.
   */
  async put(n: number, deadlineMs = Date.now() + 15_000): Promise<boolean> {
    const body = JSON.stringify({ metric: TEST_METRIC, timestamp: BASE_TIMESTAMP_MS + n, value: n, tags: { host: 'a' } });
    let target: string | null = null;
    let attempt = 0;
    while (Date.now() < deadlineMs) {
      const candidates = this.running();
      if (candidates.length === 0) return false;
      const url = target ?? this.url(candidates[attempt % candidates.length]!.id);
      attempt += 1;
      target = null;
      try {
        const response = await fetch(`${url}/api/put?summary`, { method: 'POST', body, headers: { 'content-type': 'application/json' }, signal: AbortSignal.timeout(5_000) });
        const answer = (await response.json()) as { success?: number; error?: { details?: string } };
        if (response.status === 200 && answer.success === 1) return true;
        // Followers forward writes to the leader; when they cannot, the error names it.
        const leaderUrl = /"leaderClientUrl":"([^"]+)"/.exec(answer.error?.details ?? '')?.[1];
        if (leaderUrl !== undefined) target = leaderUrl;
      } catch {
        // The node died or timed out: try another.
      }
      if (target === null) await sleep(25);
    }
    return false;
  }

  kill9(id: string): Promise<unknown> {
    const node = this.node(id);
    node.process?.kill('SIGKILL');
    return node.exited ?? Promise.resolve();
  }

  /** SIGTERM, then the exit code (bounded). */
  async terminate(id: string, timeoutMs = 15_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    const node = this.node(id);
    if (node.process === null || node.exited === null) throw new Error(`${id} never started`);
    node.process.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${id} did not exit within ${timeoutMs} ms of SIGTERM`)), timeoutMs);
    });
    try {
      return await Promise.race([node.exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  wipe(id: string): void {
    rmSync(this.node(id).dir, { recursive: true, force: true });
  }

  /** Kills every process started by this harness and deletes the temp folder. */
  async destroy(): Promise<void> {
    const waits: Promise<unknown>[] = [];
    for (const node of this.nodes) {
      if (this.isRunning(node.id)) {
        node.process!.kill('SIGKILL');
        waits.push(node.exited!);
      }
    }
    for (const child of this.extraProcesses) {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        waits.push(new Promise((done) => child.once('exit', done)));
      }
    }
    await Promise.all(waits);
    if (process.env.TSRAFT_KEEP_TEST_DATA === undefined) rmSync(this.root, { recursive: true, force: true });
  }
}
