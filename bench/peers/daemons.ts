// Starting and stopping the peer databases (etcd, VictoriaMetrics) for the
// side-by-side benchmarks. Every process started here is remembered and killed
// when the benchmark ends, however it ends (normal exit, exception, SIGINT or
// SIGTERM), so no daemon outlives a run. Traffic stays on 127.0.0.1.
import { type ChildProcess, spawn, execFileSync } from 'node:child_process';
import { createWriteStream, existsSync, readdirSync, lstatSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus as osCpus, loadavg, tmpdir, totalmem as osTotalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const LOOPBACK = '127.0.0.1';

/** How long a daemon gets to exit after SIGTERM/SIGINT before SIGKILL. */
const STOP_GRACE_MS = 15_000;

const running = new Set<ChildProcess>();
/** Temporary directories not yet removed: removed on exit too, after the daemons using them are killed. */
const liveTempDirs = new Set<string>();
let exitHooksInstalled = false;

function killAllSync(): void {
  for (const child of running) {
    try {
      child.kill('SIGKILL');
    } catch {
      // Already gone: nothing to stop.
    }
  }
  running.clear();
  for (const dir of liveTempDirs) {
    try {
      rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 50 });
    } catch {
      // A dying daemon may still hold a file for a moment; the OS cleans tmp eventually.
    }
  }
  liveTempDirs.clear();
}

function installExitHooks(): void {
  if (exitHooksInstalled) return;
  exitHooksInstalled = true;
  process.on('exit', killAllSync);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, () => {
      killAllSync();
      process.exit(128 + (signal === 'SIGINT' ? 2 : signal === 'SIGTERM' ? 15 : 1));
    });
  }
}

export interface Daemon {
  name: string;
  child: ChildProcess;
  logPath: string;
}

/** Starts `command args` with stdout+stderr to logPath; it is killed when this process exits. */
export function startDaemon(name: string, command: string, args: string[], logPath: string): Daemon {
  installExitHooks();
  const log = createWriteStream(logPath, { flags: 'a' });
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.pipe(log);
  child.stderr!.pipe(log);
  running.add(child);
  child.on('exit', () => running.delete(child));
  child.on('error', (e) => {
    running.delete(child);
    console.error(`${name}: cannot start ${command}: ${e.message}`);
  });
  return { name, child, logPath };
}

/** Stops a daemon: `signal` first (a clean shutdown flushes data), SIGKILL after the grace period. */
export async function stopDaemon(daemon: Daemon, signal: NodeJS.Signals = 'SIGTERM'): Promise<{ cleanExit: boolean }> {
  const { child } = daemon;
  if (child.exitCode !== null || child.signalCode !== null) {
    running.delete(child);
    return { cleanExit: child.exitCode === 0 };
  }
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.kill(signal);
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), STOP_GRACE_MS);
  });
  const first = await Promise.race([exited, timedOut]);
  clearTimeout(timer);
  if (first === 'timeout') {
    child.kill('SIGKILL');
    await exited;
    running.delete(child);
    return { cleanExit: false };
  }
  running.delete(child);
  return { cleanExit: first === 0 };
}

export async function stopAll(daemons: Daemon[]): Promise<void> {
  await Promise.all(daemons.map((d) => stopDaemon(d)));
}

/** A TCP port free on 127.0.0.1 right now (the OS picks it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, LOOPBACK, () => {
      const address = server.address();
      if (address === null || typeof address === 'string') {
        server.close();
        reject(new Error('no port assigned'));
        return;
      }
      server.close(() => resolve(address.port));
    });
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `url` until it answers 2xx or the deadline passes; fails early if the daemon died. */
export async function waitForHttp(daemon: Daemon, url: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (daemon.child.exitCode !== null || daemon.child.signalCode !== null) {
      throw new Error(`${daemon.name} exited (code ${daemon.child.exitCode}) before ${url} answered; see ${daemon.logPath}`);
    }
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2_000) });
      await res.arrayBuffer();
      if (res.ok) return;
    } catch {
      // Not listening yet.
    }
    if (Date.now() > deadline) throw new Error(`${daemon.name} did not answer ${url} within ${timeoutMs} ms; see ${daemon.logPath}`);
    await sleep(200);
  }
}

/** Total bytes of the regular files under `dir` (apparent size, not blocks). */
export function directoryBytes(dir: string): number {
  if (!existsSync(dir)) return 0;
  let total = 0;
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const st = lstatSync(p);
    if (st.isDirectory()) total += directoryBytes(p);
    else if (st.isFile()) total += st.size;
  }
  return total;
}

/** A fresh temporary directory, removed by the returned function. */
export function tempDir(prefix: string): { path: string; remove: () => void } {
  installExitHooks();
  const path = mkdtempSync(join(tmpdir(), prefix));
  liveTempDirs.add(path);
  return {
    path,
    remove: () => {
      rmSync(path, { recursive: true, force: true });
      liveTempDirs.delete(path);
    },
  };
}

/** Version of an installed Debian package, or null. */
export function debianPackageVersion(name: string): string | null {
  try {
    return execFileSync('dpkg-query', ['-W', '-f=${Version}', name], { encoding: 'utf8' }).trim() || null;
  } catch {
    return null;
  }
}

export function commandExists(command: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Repo root: these files run as dist/bench/peers/*.js. */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'bench'))) return dir;
    dir = dirname(dir);
  }
  throw new Error('cannot find the repository root (package.json) above ' + fileURLToPath(import.meta.url));
}

export interface Spread {
  runs: number;
  median: number;
  min: number;
  max: number;
}

export function spread(samples: number[]): Spread {
  if (samples.length === 0) throw new Error('spread of no samples');
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return { runs: samples.length, median, min: sorted[0]!, max: sorted[sorted.length - 1]! };
}

/** The machine; loadAverage1m tells whether other work shared the cores during the run. */
export function machineInfo(): { cpus: number; cpuModel: string; memoryBytes: number; node: string; platform: string; loadAverage1m: number } {
  return {
    loadAverage1m: loadavg()[0]!,
    cpus: osCpus().length,
    cpuModel: osCpus()[0]?.model ?? 'unknown',
    memoryBytes: osTotalmem(),
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
  };
}
