// The `tsraft` command line: parsing and dispatch (entry point: main.ts).
// Exit codes: docs/errors.md ("Exit codes").
import { fileURLToPath } from 'node:url';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { EXIT_CODES } from '../node/exit-codes.js';
import { addNode, removeNode, transferLeader } from './cluster-commands.js';
import { DEV_DEFAULT_NODES, DEV_DEFAULT_PORT, runDev } from './dev.js';

export const USAGE = `usage:
  tsraft serve --config FILE                 run one node (docs/configuration.md)
  tsraft dev [--nodes ${DEV_DEFAULT_NODES}] [--data ./data] [--port ${DEV_DEFAULT_PORT}] [--restore-from BACKUP_DIR [--decrypt-key FILE]]
                                             run a local cluster in the foreground
  tsraft status --endpoint URL [--json]      the cluster as a table: members, roles, term, indexes, lag, health
  tsraft cluster add-node --endpoint URL --id ID --peer-url ws://HOST:PORT [--timeout-ms 300000]
  tsraft cluster remove-node --endpoint URL --id ID [--timeout-ms 60000]
  tsraft cluster transfer-leader --endpoint URL --id ID [--timeout-ms 60000]
  tsraft put METRIC TIMESTAMP|now VALUE TAGK=TAGV...
  tsraft query 'sum:1m-avg:METRIC{TAG=*}' --start 1h-ago [--end T] [--format table|csv|json]
  tsraft import FILE... [--format put|json|csv] [--metric M --tags k=v,...] [--batch 5000]
  tsraft export --metric M [--start T] [--end T] [--filter k=v] [--format put|csv|json] [--out FILE]
  tsraft backup create|verify|restore|list|inspect|keygen ...   (tsraft backup help; docs/backup-format.md)

--endpoint is a node's client URL (http://HOST:PORT); give it several times (or
comma-separated) so the command can find the leader if one node is down.
Operations guide: docs/operations.md`;

export class UsageError extends Error {
  override name = 'UsageError';
}

type Options = ParseArgsConfig['options'];

function parse(args: string[], options: Options): Record<string, string | boolean | string[] | undefined> {
  try {
    return parseArgs({ args, options, strict: true, allowPositionals: false }).values as Record<string, string | boolean | string[] | undefined>;
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

function requireString(values: Record<string, unknown>, name: string): string {
  const value = values[name];
  if (typeof value !== 'string' || value === '') throw new UsageError(`--${name} is required`);
  return value;
}

function optionalInteger(values: Record<string, unknown>, name: string): number | null {
  const value = values[name];
  if (value === undefined) return null;
  const parsed = Number(value);
  if (typeof value !== 'string' || !/^\d+$/.test(value) || !Number.isSafeInteger(parsed)) throw new UsageError(`--${name} must be a non-negative integer, got ${String(value)}`);
  return parsed;
}

function endpoints(values: Record<string, unknown>): string[] {
  const raw = values.endpoint;
  const list = (Array.isArray(raw) ? raw : typeof raw === 'string' ? [raw] : []).flatMap((v: string) => v.split(',')).map((v) => v.trim()).filter((v) => v !== '');
  if (list.length === 0) throw new UsageError('--endpoint is required (a node client URL such as http://127.0.0.1:8080)');
  for (const endpoint of list) {
    if (!/^https?:\/\/[^/]+/.test(endpoint)) throw new UsageError(`--endpoint must be an http:// or https:// URL, got ${endpoint}`);
  }
  return list;
}

const print = (line: string): void => {
  process.stdout.write(line + '\n');
};

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'serve': {
      const values = parse(rest, { config: { type: 'string' } });
      const { runServe } = await import('../node/run.js');
      return runServe(requireString(values, 'config'));
    }
    case 'dev': {
      const values = parse(rest, { nodes: { type: 'string' }, data: { type: 'string' }, port: { type: 'string' }, 'restore-from': { type: 'string' }, 'decrypt-key': { type: 'string' } });
      return runDev({
        nodes: optionalInteger(values, 'nodes'),
        port: optionalInteger(values, 'port'),
        dataDir: typeof values.data === 'string' ? values.data : './data',
        restoreFrom: typeof values['restore-from'] === 'string' ? values['restore-from'] : null,
        restoreKeyFile: typeof values['decrypt-key'] === 'string' ? values['decrypt-key'] : null,
        mainScript: fileURLToPath(new URL('./main.js', import.meta.url)),
        print,
      });
    }
    case 'status': {
      // The cluster table (src/cli/commands/status.ts).
      const values = parse(rest, { endpoint: { type: 'string', multiple: true }, json: { type: 'boolean' } });
      const { runStatus } = await import('./commands/status.js');
      return runStatus({ endpoints: endpoints(values), json: values.json === true, print });
    }
    case 'cluster': {
      const [sub, ...subArgs] = rest;
      const values = parse(subArgs, { endpoint: { type: 'string', multiple: true }, id: { type: 'string' }, 'peer-url': { type: 'string' }, 'timeout-ms': { type: 'string' } });
      const id = requireString(values, 'id');
      const timeout = (fallback: number): number => optionalInteger(values, 'timeout-ms') ?? fallback;
      if (sub === 'add-node') {
        await addNode({ endpoints: endpoints(values), id, peerUrl: requireString(values, 'peer-url'), timeoutMs: timeout(300_000), print });
      } else if (sub === 'remove-node') {
        await removeNode({ endpoints: endpoints(values), id, timeoutMs: timeout(60_000), print });
      } else if (sub === 'transfer-leader') {
        await transferLeader({ endpoints: endpoints(values), id, timeoutMs: timeout(60_000), print });
      } else {
        throw new UsageError(`unknown cluster command ${JSON.stringify(sub ?? '')}: expected add-node, remove-node or transfer-leader`);
      }
      return 0;
    }
    case 'put':
    case 'query':
    case 'import':
    case 'export': {
      // The client commands (src/cli/commands/, the client API room).
      const { runClientCommand } = await import('./commands/index.js');
      return runClientCommand(command, rest);
    }
    case 'backup': {
      // Backups, restore, point-in-time recovery (src/cli/commands/backup.ts, the backup room).
      const { runBackupCommand } = await import('./commands/backup.js');
      return runBackupCommand(rest, { print });
    }
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      print(USAGE);
      return command === undefined ? EXIT_CODES.usage : 0;
    default:
      throw new UsageError(`unknown command ${JSON.stringify(command)}`);
  }
}
