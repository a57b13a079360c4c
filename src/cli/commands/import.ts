// tsraft import FILE... [--format put|json|csv] [--metric M --tags k=v,...]
//                       [--batch 5000] [--concurrency 4] [--max-errors 1000]
//
// Streams each file (gzip accepted; '-' is stdin), parses records
// (import-formats.ts), and writes them in batches through the client, a few
// batches in flight at once (exactly-once per batch). Every rejected record
// — unparseable here or refused by the node — is reported as FILE:LINE: why
// (the first --max-errors of them; the summary counts all). A progress bar
// runs on a terminal; the summary goes to stderr at the end. Exit 0 when
// every point was stored, 1 when any was rejected.
import type { Point, TsraftClient } from '../../client/index.js';
import { access, constants } from 'node:fs/promises';
import { TsraftError, rethrowIfBug } from '../../errors.js';
import { fileErrorReason } from '../../util/file-errors.js';
import { connectFromArgs, integerOption, parseCommandArgs, parseTagList, stringOption, usageError, write, type CommandIo } from './client-args.js';
import { IMPORT_FORMATS, detectFormat, openInput, recordsOf, type CsvDefaults, type ImportFormat } from './import-formats.js';
import { ProgressBar, formatCount } from './progress.js';

export const IMPORT_USAGE = 'tsraft import FILE... [--format put|json|csv] [--metric M --tags k=v,...] [--batch 5000] [--concurrency 4] [--max-errors 1000]';

export interface ImportSummary {
  /** Records read from the files (points and unparseable records). */
  records: number;
  /** Points sent to the cluster. */
  read: number;
  stored: number;
  rejected: number;
  elapsedMs: number;
}

interface Batch {
  file: string;
  points: Point[];
  lines: number[];
}

class Importer {
  readonly summary: ImportSummary = { records: 0, read: 0, stored: 0, rejected: 0, elapsedMs: 0 };
  private batch: Batch | null = null;
  private readonly inFlight = new Set<Promise<void>>();
  private fatal: unknown = null;
  private reported = 0;

  constructor(
    private readonly client: TsraftClient,
    private readonly io: CommandIo,
    private readonly progress: ProgressBar,
    private readonly batchSize: number,
    private readonly concurrency: number,
    private readonly maxReported: number,
  ) {}

  async reject(file: string, line: number | null, message: string, count = 1): Promise<void> {
    this.summary.rejected += count;
    if (this.reported >= this.maxReported) return;
    this.reported++;
    this.progress.clear();
    await write(this.io.stderr, `${file}:${line ?? '?'}: ${message}\n`);
  }

  async add(file: string, line: number, point: Point): Promise<void> {
    if (this.fatal !== null) throw this.fatal;
    this.summary.read++;
    if (this.batch === null || this.batch.file !== file) {
      await this.flush();
      this.batch = { file, points: [], lines: [] };
    }
    this.batch.points.push(point);
    this.batch.lines.push(line);
    if (this.batch.points.length >= this.batchSize) await this.flush();
  }

  async flush(): Promise<void> {
    const batch = this.batch;
    this.batch = null;
    if (batch === null || batch.points.length === 0) return;
    while (this.inFlight.size >= this.concurrency) await Promise.race(this.inFlight);
    if (this.fatal !== null) throw this.fatal;
    const sending: Promise<void> = this.send(batch).finally(() => this.inFlight.delete(sending));
    this.inFlight.add(sending);
  }

  private async send(batch: Batch): Promise<void> {
    try {
      const result = await this.client.put(batch.points);
      this.summary.stored += result.success;
      for (const e of result.errors) await this.reject(batch.file, batch.lines[e.index] ?? null, `${e.message} [${e.code}]`);
      const unlisted = result.failed - result.errors.length;
      if (unlisted > 0) {
        await this.reject(batch.file, batch.lines[0] ?? null, `${unlisted} more points of lines ${batch.lines[0]}-${batch.lines[batch.lines.length - 1]} were rejected (not listed by the node)`, unlisted);
      }
    } catch (error) {
      this.fatal ??= error;
    }
  }

  async drain(): Promise<void> {
    await this.flush();
    while (this.inFlight.size > 0) await Promise.race(this.inFlight);
    if (this.fatal !== null) throw this.fatal;
  }
}

export async function runImport(args: string[], io: CommandIo): Promise<number> {
  const { values, positionals: files } = parseCommandArgs(
    args,
    {
      format: { type: 'string' },
      metric: { type: 'string' },
      tags: { type: 'string', multiple: true },
      batch: { type: 'string' },
      concurrency: { type: 'string' },
      'max-errors': { type: 'string' },
    },
    true,
  );
  if (files.length === 0) throw usageError(`import needs at least one FILE ('-' for stdin) (${IMPORT_USAGE})`);
  const forced = stringOption(values, 'format');
  if (forced !== undefined && !IMPORT_FORMATS.includes(forced as ImportFormat)) throw usageError(`--format must be one of ${IMPORT_FORMATS.join(', ')}`);
  const tagItems = values.tags;
  const csv: CsvDefaults = { metric: stringOption(values, 'metric'), tags: Array.isArray(tagItems) ? parseTagList(tagItems, '--tags') : undefined };
  const batchSize = integerOption(stringOption(values, 'batch'), 'batch', 5_000, 1, 50_000);
  const concurrency = integerOption(stringOption(values, 'concurrency'), 'concurrency', 4, 1, 64);
  const maxErrors = integerOption(stringOption(values, 'max-errors'), 'max-errors', 1_000, 0, 10_000_000);

  // A missing or unreadable file is named before any connection is made.
  for (const file of files) {
    if (file === '-') continue;
    try {
      await access(file, constants.R_OK);
    } catch (error) {
      rethrowIfBug(error);
      throw new TsraftError('TSR_ERR_INVALID_ARGUMENT', `cannot read ${file}: ${fileErrorReason(error)}`, { details: { file } });
    }
  }
  const client = await connectFromArgs(values, io);
  const progress = new ProgressBar(io.stderr, io.stderrIsTty);
  const importer = new Importer(client, io, progress, batchSize, concurrency, maxErrors);
  const startedMs = Date.now();
  try {
    for (const file of files) {
      const input = await openInput(file, io.stdin);
      const format = (forced as ImportFormat | undefined) ?? detectFormat(file, input.head);
      let sinceProgress = 0;
      for await (const record of recordsOf(format, input, csv)) {
        importer.summary.records++;
        if ('error' in record) await importer.reject(file, record.line, record.error);
        else await importer.add(file, record.line, record.point);
        if (++sinceProgress >= 1000) {
          sinceProgress = 0;
          const elapsedS = Math.max(0.001, (Date.now() - startedMs) / 1000);
          const fraction = input.totalBytes > 0 ? input.bytesRead() / input.totalBytes : null;
          progress.update(fraction, `${file}: ${formatCount(importer.summary.read)} points read, ${formatCount(importer.summary.stored)} stored, ${formatCount(importer.summary.read / elapsedS)}/s`);
        }
      }
      await importer.flush();
    }
    await importer.drain();
  } catch (error) {
    progress.clear();
    if (error instanceof TsraftError) {
      await write(io.stderr, `import stopped: ${error.message} [${error.code}]\n`);
      await printSummary(io, importer.summary, startedMs, files.length);
      if (error.details.usage === true) throw error;
      return 1;
    }
    throw error;
  } finally {
    await client.close();
  }
  progress.clear();
  await printSummary(io, importer.summary, startedMs, files.length);
  return importer.summary.rejected > 0 ? 1 : 0;
}

async function printSummary(io: CommandIo, summary: ImportSummary, startedMs: number, fileCount: number): Promise<void> {
  summary.elapsedMs = Date.now() - startedMs;
  const seconds = summary.elapsedMs / 1000;
  const rate = seconds > 0 ? summary.stored / seconds : 0;
  await write(
    io.stderr,
    `imported ${fileCount} file${fileCount === 1 ? '' : 's'}: ${summary.records} records read, ${summary.stored} points stored, ${summary.rejected} rejected, in ${seconds.toFixed(1)} s (${formatCount(rate)} points/s)\n`,
  );
}
