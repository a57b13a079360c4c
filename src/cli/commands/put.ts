// tsraft put METRIC TIMESTAMP VALUE TAGK=TAGV... [--endpoint URL] [--token T]
//
// Writes one point, like a telnet `put` line. TIMESTAMP is a Unix time in
// seconds or milliseconds, or `now`. Prints what was stored; exit 1 when the
// point was rejected (the reason is printed).
import type { Point } from '../../client/index.js';
import { validatePoint } from '../../tsdb/validate.js';
import { connectFromArgs, parseCommandArgs, parseTagList, usageError, write, type CommandIo } from './client-args.js';

export const PUT_USAGE = 'tsraft put METRIC TIMESTAMP|now VALUE TAGK=TAGV... [--endpoint URL] [--token T]';

export async function runPut(args: string[], io: CommandIo): Promise<number> {
  const { values, positionals } = parseCommandArgs(args, {}, true);
  if (positionals.length < 4) throw usageError(`put needs METRIC TIMESTAMP VALUE and at least one TAGK=TAGV (${PUT_USAGE})`);
  const [metric, timestamp, value, ...tagItems] = positionals as [string, string, string, ...string[]];
  const point: Point = {
    metric,
    timestamp: timestamp === 'now' ? Date.now() : timestamp,
    value,
    tags: parseTagList(tagItems, 'tag'),
  };
  // The node checks the point again; checking here first names a typo
  // without needing a reachable cluster.
  const check = validatePoint(point);
  if (!check.ok) {
    await write(io.stderr, `rejected: ${check.error.message} [${check.error.code}]\n`);
    return 1;
  }
  const client = await connectFromArgs(values, io);
  try {
    const result = await client.put(point);
    if (result.failed > 0) {
      for (const e of result.errors) await write(io.stderr, `rejected: ${e.message} [${e.code}]\n`);
      return 1;
    }
    await write(io.stdout, `stored 1 point\n`);
    return 0;
  } finally {
    await client.close();
  }
}
