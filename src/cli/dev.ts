// `tsraft dev`: a local cluster of separate node processes for development
// (what `make run` starts). Layout of the data folder (docs/operations.md):
//
//   DATA/dev.json        the launcher's own record: cluster id, node count, base port
//   DATA/secret          the cluster secret (mode 0600), generated on first start
//   DATA/n1.json …       each node's configuration file (written once, then kept)
//   DATA/n1/ …           each node's data directory (LevelDB + snapshots)
//   DATA/n1.log …        each node's log
//   DATA/cluster.json    the running nodes: id, pid, http, ws, config (rewritten at each start)
//
// Node i serves clients on port+i-1 and peers on port+100+i-1. A rerun with the
// same DATA resumes the same cluster. The launcher restarts nothing by itself:
// a node that dies is reported with the command that restarts it.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { TsraftError, assert, rethrowIfBug } from '../errors.js';
import { loadNodeConfig } from '../config/load.js';
import type { NodeConfig } from '../config/types.js';
import { endpointUrl, requestJson } from './http-json.js';

export const DEV_DEFAULT_NODES = 3;
export const DEV_DEFAULT_PORT = 8080;
export const DEV_MAX_NODES = 15;
/** Peer port of node i = base port + PEER_PORT_OFFSET + i - 1. */
export const PEER_PORT_OFFSET = 100;
const DEV_FORMAT = 1;
const STARTUP_TIMEOUT_MS = 30_000;
const LEADER_TIMEOUT_MS = 30_000;
/** After SIGTERM, a node gets this long to stop before it is killed. */
const STOP_TIMEOUT_MS = 20_000;
const POLL_INTERVAL_MS = 100;
/** A second stop signal within this window counts as the same one. */
const REPEATED_SIGNAL_WINDOW_MS = 1_000;

export interface DevOptions {
  /** null: the stored count, or the default for a new cluster. */
  nodes: number | null;
  dataDir: string;
  port: number | null;
  /** The CLI entry script that `serve` runs in each child. */
  mainScript: string;
  /** Seed a new cluster from this verified backup directory (tsraft backup create). */
  restoreFrom?: string | null;
  /** Key file of an encrypted backup given with restoreFrom. */
  restoreKeyFile?: string | null;
  print: (line: string) => void;
}

interface DevRecord {
  format: number;
  clusterId: string;
  nodes: number;
  port: number;
}

export interface ClusterFileNode {
  id: string;
  pid: number;
  /** Client HTTP endpoint. */
  http: string;
  /** Client WebSocket endpoint. */
  ws: string;
  /** Absolute path of the node's configuration file. */
  config: string;
  /** Peer URL other nodes dial. */
  peer: string;
  dataDir: string;
  log: string;
}

export interface ClusterFile {
  clusterId: string;
  dataDir: string;
  /** pid of the `tsraft dev` launcher. */
  launcherPid: number;
  startedAt: string;
  nodes: ClusterFileNode[];
}

interface RunningNode {
  id: string;
  config: NodeConfig;
  configPath: string;
  logPath: string;
  child: ChildProcess;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  exit: { code: number | null; signal: NodeJS.Signals | null } | null;
}

function usage(message: string): TsraftError {
  return new TsraftError('TSR_ERR_INVALID_ARGUMENT', message, { details: { usage: true } });
}

/** Reads or creates DATA/dev.json, checking the flags against a stored cluster. */
function prepareRecord(dataDir: string, nodesFlag: number | null, portFlag: number | null, print: (line: string) => void): DevRecord {
  const recordPath = join(dataDir, 'dev.json');
  if (existsSync(recordPath)) {
    const record = JSON.parse(readFileSync(recordPath, 'utf8')) as DevRecord;
    assert(record.format === DEV_FORMAT && typeof record.clusterId === 'string', `${recordPath}: unknown format`);
    if (nodesFlag !== null && nodesFlag !== record.nodes) {
      throw usage(`${dataDir} holds a ${record.nodes}-node cluster; rerun with --nodes ${record.nodes}, or use another --data to start a new one`);
    }
    if (portFlag !== null && portFlag !== record.port) {
      throw usage(`${dataDir} holds a cluster on base port ${record.port}; rerun with --port ${record.port}, or use another --data to start a new one`);
    }
    print(`resuming cluster ${record.clusterId} from ${dataDir}`);
    return record;
  }
  const nodes = nodesFlag ?? DEV_DEFAULT_NODES;
  const port = portFlag ?? DEV_DEFAULT_PORT;
  const record: DevRecord = { format: DEV_FORMAT, clusterId: `dev-${randomBytes(8).toString('hex')}`, nodes, port };
  writeFileSync(join(dataDir, 'secret'), randomBytes(32).toString('hex') + '\n', { mode: 0o600, flag: 'wx' });
  writeAtomically(recordPath, JSON.stringify(record, null, 2) + '\n');
  print(`created cluster ${record.clusterId} in ${dataDir}`);
  return record;
}

export function checkDevFlags(nodes: number | null, port: number | null): void {
  if (nodes !== null && (!Number.isSafeInteger(nodes) || nodes < 1 || nodes > DEV_MAX_NODES)) throw usage(`--nodes must be an integer in [1, ${DEV_MAX_NODES}], got ${nodes}`);
  const maxPort = 65535 - PEER_PORT_OFFSET - (nodes ?? DEV_MAX_NODES);
  if (port !== null && (!Number.isSafeInteger(port) || port < 1 || port > maxPort)) throw usage(`--port must be an integer in [1, ${maxPort}], got ${port}`);
}

/** The configuration file of node i of a dev cluster (written once, then kept: edits survive). */
function devNodeConfig(record: DevRecord, index: number): Record<string, unknown> {
  const peers: Record<string, string> = {};
  const clientUrls: Record<string, string> = {};
  for (let i = 1; i <= record.nodes; i += 1) {
    peers[`n${i}`] = `ws://127.0.0.1:${record.port + PEER_PORT_OFFSET + i - 1}`;
    clientUrls[`n${i}`] = `http://127.0.0.1:${record.port + i - 1}`;
  }
  return {
    $comment: 'Written by `tsraft dev`; relative paths are relative to this file. Fields: docs/configuration.md',
    nodeId: `n${index}`,
    clusterId: record.clusterId,
    dataDir: `n${index}`,
    secretFile: 'secret',
    httpHost: '127.0.0.1',
    httpPort: record.port + index - 1,
    peerHost: '127.0.0.1',
    peerPort: record.port + PEER_PORT_OFFSET + index - 1,
    peers,
    clientUrls,
    // A new user gets live data to query at once (docs/metrics.md, "Self-monitoring").
    selfMonitoring: { enabled: true },
  };
}

function writeAtomically(path: string, text: string): void {
  const temp = `${path}.tmp`;
  writeFileSync(temp, text);
  renameSync(temp, path);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Refuse to start twice on the same data: the nodes would fight over their ports and LevelDB locks. */
function checkNotRunning(dataDir: string): void {
  const clusterPath = join(dataDir, 'cluster.json');
  if (!existsSync(clusterPath)) return;
  let previous: ClusterFile;
  try {
    previous = JSON.parse(readFileSync(clusterPath, 'utf8')) as ClusterFile;
  } catch (error) {
    rethrowIfBug(error);
    return;
  }
  for (const node of previous.nodes ?? []) {
    if (typeof node.pid !== 'number' || !isAlive(node.pid)) continue;
    let cmdline = '';
    try {
      cmdline = readFileSync(`/proc/${node.pid}/cmdline`, 'utf8');
    } catch {
      cmdline = node.config; // no /proc: trust the pid
    }
    if (cmdline.includes(node.config)) {
      throw usage(`node ${node.id} of ${dataDir} is still running (pid ${node.pid}); stop it (or the tsraft dev that started it) first`);
    }
  }
}

function displayPath(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel.startsWith('..') || rel === '' ? path : rel;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolvePromise) => setTimeout(resolvePromise, ms));
}

function clientUrl(config: NodeConfig): string {
  return `http://127.0.0.1:${config.httpPort}`;
}

export async function runDev(options: DevOptions): Promise<number> {
  const print = options.print;
  checkDevFlags(options.nodes, options.port);
  const dataDir = resolve(options.dataDir);
  mkdirSync(dataDir, { recursive: true });
  checkNotRunning(dataDir);
  const isNewCluster = !existsSync(join(dataDir, 'dev.json'));
  if (options.restoreFrom != null && !isNewCluster) {
    throw usage(`${dataDir} already holds a cluster; --restore-from seeds a new one: give another --data`);
  }
  const record = prepareRecord(dataDir, options.nodes, options.port, print);

  const nodes: RunningNode[] = [];
  let stopping = false;
  let stopRequested: (signal: NodeJS.Signals) => void = () => {};
  const stopSignal = new Promise<NodeJS.Signals>((resolvePromise) => {
    stopRequested = resolvePromise;
  });
  let firstSignalAtMs = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping || firstSignalAtMs > 0) {
      // One Ctrl-C can arrive twice (a wrapper such as `timeout` or a
      // supervisor relays it to the whole group): only a later one forces.
      if (Date.now() - firstSignalAtMs < REPEATED_SIGNAL_WINDOW_MS) return;
      print(`${signal} again: killing the nodes`);
      for (const node of nodes) if (node.exit === null) node.child.kill('SIGKILL');
      return;
    }
    firstSignalAtMs = Date.now();
    stopRequested(signal);
  };
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  for (const signal of signals) process.on(signal, onSignal);

  try {
    for (let i = 1; i <= record.nodes; i += 1) {
      const configPath = join(dataDir, `n${i}.json`);
      if (!existsSync(configPath)) writeAtomically(configPath, JSON.stringify(devNodeConfig(record, i), null, 2) + '\n');
      const config = loadNodeConfig(configPath);
      if (options.restoreFrom != null && isNewCluster) {
        // Every founding node starts from the backup's state (verified first, new cluster id).
        const { restoreIntoDataDir } = await import('../backup/restore.js');
        const { loadKeyFile } = await import('../backup/crypto.js');
        const key = options.restoreKeyFile != null ? loadKeyFile(options.restoreKeyFile) : null;
        const restored = await restoreIntoDataDir(resolve(options.restoreFrom), config, { key });
        print(`restored ${config.nodeId} from ${options.restoreFrom} at index ${restored.index}`);
      }
      const logPath = join(dataDir, `${config.nodeId}.log`);
      const logFd = openSync(logPath, 'a');
      // The nodes stay in this process group: Ctrl-C in the terminal reaches
      // them directly too, and each stops cleanly on its own.
      const child = spawn(process.execPath, [options.mainScript, 'serve', '--config', configPath], { stdio: ['ignore', logFd, logFd] });
      closeSync(logFd);
      let node: RunningNode | null = null;
      const exited = new Promise<RunningNode['exit'] & object>((resolvePromise) => {
        child.once('exit', (code, signal) => {
          assert(node !== null, 'a node exited before it was recorded');
          node.exit = { code, signal };
          if (!stopping) {
            print(`node ${node.id} (pid ${child.pid}) exited ${describeExit(code, signal)}; see ${displayPath(logPath)}`);
            print(`  restart it with: node ${displayPath(options.mainScript)} serve --config ${displayPath(configPath)}`);
          }
          resolvePromise({ code, signal });
        });
      });
      node = { id: config.nodeId, config, configPath, logPath, child, exit: null, exited };
      nodes.push(node);
    }
    writeClusterFile(dataDir, record, nodes);

    const started = await waitFor(nodes, STARTUP_TIMEOUT_MS, stopSignal, async () => {
      for (const node of nodes) if (node.exit !== null) return 'exited';
      const healthy = await Promise.all(nodes.map((node) => probe(endpointUrl(clientUrl(node.config), '/health'))));
      return healthy.every((ok) => ok) ? 'ok' : null;
    });
    if (started !== 'ok') {
      if (started === 'exited') print('a node exited while the cluster was starting; stopping the others');
      else if (started === 'timeout') print(`the nodes did not answer /health within ${STARTUP_TIMEOUT_MS / 1000} s; stopping them`);
      const clean = await stopAll(nodes, print);
      return started === 'signal' && clean ? 0 : 1;
    }

    print('');
    print(`tsraft dev: ${record.nodes}-node cluster ${record.clusterId}, data in ${displayPath(dataDir)}`);
    for (const node of nodes) {
      const http = clientUrl(node.config);
      print(`  ${node.id}  HTTP ${http}  WebSocket ws://127.0.0.1:${node.config.httpPort}/ws  console ${http}/  (peer ${node.config.peerUrl}, pid ${node.child.pid}, log ${displayPath(node.logPath)})`);
    }
    print(`  cluster file ${displayPath(join(dataDir, 'cluster.json'))}`);
    print('');

    const leader = await waitFor(nodes, LEADER_TIMEOUT_MS, stopSignal, async () => {
      for (const node of nodes) {
        if (node.exit !== null) continue;
        const answer = await requestJson(endpointUrl(clientUrl(node.config), '/status'), { timeoutMs: 2_000 }).catch(() => null);
        const status = answer?.body as { leader?: unknown } | null | undefined;
        if (answer?.status === 200 && typeof status?.leader === 'string') return status.leader;
      }
      return null;
    });
    if (leader === 'timeout') print(`no leader elected within ${LEADER_TIMEOUT_MS / 1000} s; check the node logs`);
    else if (leader !== 'signal' && leader !== 'exited') print(`leader: ${leader}. Ctrl-C stops the cluster.`);

    const signal = await stopSignal;
    print(`${signal}: stopping the nodes`);
    const clean = await stopAll(nodes, print);
    print(clean ? 'all nodes stopped cleanly' : 'some nodes did not stop cleanly');
    return clean ? 0 : 1;
  } catch (error) {
    if (nodes.some((node) => node.exit === null)) await stopAll(nodes, print);
    throw error;
  } finally {
    for (const signal of signals) process.off(signal, onSignal);
  }

  async function stopAll(all: RunningNode[], out: (line: string) => void): Promise<boolean> {
    stopping = true;
    const alreadyDead = new Set(all.filter((node) => node.exit !== null));
    for (const node of all) if (node.exit === null) node.child.kill('SIGTERM');
    let clean = true;
    await Promise.all(
      all.map(async (node) => {
        if (alreadyDead.has(node)) return;
        const timer = setTimeout(() => {
          out(`node ${node.id} did not stop within ${STOP_TIMEOUT_MS / 1000} s; killing it`);
          node.child.kill('SIGKILL');
        }, STOP_TIMEOUT_MS);
        const { code, signal } = await node.exited;
        clearTimeout(timer);
        if (code !== 0) {
          clean = false;
          out(`node ${node.id} exited ${describeExit(code, signal)}; see ${displayPath(node.logPath)}`);
        }
      }),
    );
    return clean;
  }
}

/** Polls `check` until it returns a value, the timeout passes, or a stop signal arrives. */
async function waitFor<T>(nodes: RunningNode[], timeoutMs: number, stopSignal: Promise<NodeJS.Signals>, check: () => Promise<T | null>): Promise<T | 'timeout' | 'signal'> {
  assert(nodes.length > 0, 'waitFor: no nodes');
  let signalled = false;
  void stopSignal.then(() => {
    signalled = true;
  });
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (signalled) return 'signal';
    const result = await check();
    if (result !== null) return result;
    await Promise.race([sleep(POLL_INTERVAL_MS), stopSignal]);
  }
  return signalled ? 'signal' : 'timeout';
}

async function probe(url: string): Promise<boolean> {
  try {
    return (await requestJson(url, { timeoutMs: 1_000 })).status === 200;
  } catch (error) {
    rethrowIfBug(error);
    return false;
  }
}

function writeClusterFile(dataDir: string, record: DevRecord, nodes: RunningNode[]): void {
  const file: ClusterFile = {
    clusterId: record.clusterId,
    dataDir,
    launcherPid: process.pid,
    startedAt: new Date().toISOString(),
    nodes: nodes.map((node) => {
      assert(node.child.pid !== undefined, `node ${node.id} has no pid (spawn failed)`);
      return {
        id: node.id,
        pid: node.child.pid,
        http: clientUrl(node.config),
        ws: `ws://127.0.0.1:${node.config.httpPort}/ws`,
        config: node.configPath,
        peer: node.config.peerUrl,
        dataDir: node.config.dataDir,
        log: node.logPath,
      };
    }),
  };
  writeAtomically(join(dataDir, 'cluster.json'), JSON.stringify(file, null, 2) + '\n');
}

export function describeExit(code: number | null, signal: NodeJS.Signals | null): string {
  return signal !== null ? `on signal ${signal}` : `with code ${code}`;
}
