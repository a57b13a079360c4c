#!/usr/bin/env node
// The `tsraft` command. Exit codes: docs/errors.md ("Exit codes").
//
//   tsraft serve --config FILE
//   tsraft dev [--nodes 3] [--data ./data] [--port 8080]
//   tsraft status --endpoint URL [--json]
//   tsraft cluster add-node --endpoint URL --id ID --peer-url ws://HOST:PORT [--timeout-ms N]
//   tsraft cluster remove-node --endpoint URL --id ID
//   tsraft cluster transfer-leader --endpoint URL --id ID
import { isTsraftError } from '../errors.js';
import { EXIT_CODES } from '../node/exit-codes.js';
import { USAGE, UsageError, main } from './commands.js';

async function run(): Promise<void> {
  try {
    process.exitCode = await main(process.argv.slice(2));
  } catch (error) {
    if (error instanceof UsageError || (isTsraftError(error) && error.details.usage === true)) {
      process.stderr.write(`tsraft: ${error.message}\n\n${USAGE}\n`);
      process.exitCode = EXIT_CODES.usage;
    } else if (isTsraftError(error)) {
      process.stderr.write(`tsraft: ${error.message} [${error.code}]\n`);
      process.exitCode = error.code === 'TSR_ERR_INVALID_CONFIG' ? EXIT_CODES.config : 1;
    } else {
      throw error;
    }
  }
}

await run();
// Exit now rather than when the event loop drains: an idle keep-alive socket
// or timer must not keep a finished command (or a stopped node) alive.
process.exit(process.exitCode ?? 0);
