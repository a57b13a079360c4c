// `tsraft serve --config FILE`: run one node in this process until a signal
// or a fatal error, and return the process exit code (docs/errors.md, "Exit codes").
//   SIGTERM, SIGINT, SIGHUP → graceful stop → 0
//   invalid configuration → 3; port in use → 4; data directory locked → 5;
//   corrupt data → 10; unknown storage format → 11; disk full → 12; I/O error → 13
import { loadNodeConfig } from '../config/load.js';
import type { NodeConfig } from '../config/types.js';
import { isTsraftError, rethrowIfBug } from '../errors.js';
import { EXIT_CODES, exitCodeFor } from './exit-codes.js';
import { createLogger } from './logger.js';
import { TsraftNode } from './node.js';

const STOP_SIGNALS: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGHUP'];

export async function runServe(configPath: string): Promise<number> {
  let config: NodeConfig;
  try {
    config = loadNodeConfig(configPath);
  } catch (error) {
    rethrowIfBug(error);
    if (!isTsraftError(error)) throw error;
    process.stderr.write(`tsraft serve: ${error.message}\n`);
    return exitCodeFor(error);
  }
  const log = createLogger({ nodeId: config.nodeId, level: config.logLevel });
  log.info('starting', { config: config.configPath, pid: process.pid, dataDir: config.dataDir });

  let finish: (code: number) => void = () => {};
  const finished = new Promise<number>((resolve) => {
    finish = resolve;
  });
  let node: TsraftNode | null = null;
  let ending = false;

  const onFatal = (error: unknown): void => {
    const code = exitCodeFor(error);
    log.error('fatal error: the node stops', { exitCode: code, code: errorCodeOf(error), error });
    if (ending) return;
    ending = true;
    const closing = node === null ? Promise.resolve() : node.closeResources();
    void closing.finally(() => finish(code));
  };

  const onSignal = (signal: NodeJS.Signals): void => {
    if (ending) {
      log.info(`${signal} received while stopping; still stopping`);
      return;
    }
    ending = true;
    log.info(`${signal} received: stopping gracefully`);
    const current = node;
    if (current === null) return; // start() is still running: stop once it returns
    current.stop().then(
      () => finish(EXIT_CODES.ok),
      (error: unknown) => {
        log.error('error while stopping', { error });
        finish(exitCodeFor(error));
      },
    );
  };
  for (const signal of STOP_SIGNALS) process.on(signal, onSignal);

  try {
    try {
      node = await TsraftNode.start(config, log, { onFatal });
    } catch (error) {
      const code = exitCodeFor(error);
      log.error('could not start', { exitCode: code, code: errorCodeOf(error), error });
      return code;
    }
    log.info('ready', { http: `${config.httpHost}:${node.boundHttpPort}`, peer: config.peerUrl });
    if (ending) {
      // A signal arrived during start-up.
      await node.stop();
      return EXIT_CODES.ok;
    }
    return await finished;
  } finally {
    for (const signal of STOP_SIGNALS) process.off(signal, onSignal);
  }
}

function errorCodeOf(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : 'none';
}
