// The client commands of `tsraft` (this room): put, query, import, export.
// The dispatcher (src/cli/commands.ts) calls runClientCommand for them.
import { processIo, type ClientCommand, type CommandIo } from './client-args.js';
import { EXPORT_USAGE, runExport } from './export.js';
import { IMPORT_USAGE, runImport } from './import.js';
import { PUT_USAGE, runPut } from './put.js';
import { QUERY_USAGE, runQuery } from './query.js';

export const CLIENT_COMMANDS: Readonly<Record<string, ClientCommand>> = Object.freeze({
  put: runPut,
  query: runQuery,
  import: runImport,
  export: runExport,
});

export const CLIENT_USAGE = [PUT_USAGE, QUERY_USAGE, IMPORT_USAGE, EXPORT_USAGE].map((u) => `  ${u}`).join('\n') +
  '\n  (client commands take --endpoint URL (repeatable; default http://127.0.0.1:8080 or $TSRAFT_ENDPOINTS) and --token T (or $TSRAFT_TOKEN))';

export function isClientCommand(name: string | undefined): boolean {
  return name !== undefined && Object.hasOwn(CLIENT_COMMANDS, name);
}

/** Runs `tsraft <name> ...args`; returns the exit code. Usage errors are
 *  TsraftErrors with details.usage = true. */
export function runClientCommand(name: string, args: string[], io: CommandIo = processIo()): Promise<number> {
  const command = CLIENT_COMMANDS[name];
  if (command === undefined) throw new Error(`not a client command: ${name}`);
  return command(args, io);
}
