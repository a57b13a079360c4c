import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import type { CommandIo } from '../../src/cli/commands/client-args.js';
import { jsonElements, parseCsvTimestamp, splitCsvLine, valueOfText } from '../../src/cli/commands/import-formats.js';
import fc from 'fast-check';
import { parseValue } from '../../src/tsdb/validate.js';
import { runClientCommand } from '../../src/cli/commands/index.js';
import { startApi, type ApiHarness } from '../api/harness.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function api(): Promise<ApiHarness> {
  const a = await startApi();
  cleanups.push(() => a.close());
  return a;
}

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tsraft-cli-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

interface Captured {
  io: CommandIo;
  stdout(): string;
  stderr(): string;
}

function capture(stdinText = ''): Captured {
  let out = '';
  let err = '';
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  stdout.on('data', (c: Buffer) => (out += c.toString()));
  stderr.on('data', (c: Buffer) => (err += c.toString()));
  return {
    io: { stdin: Readable.from([stdinText]), stdout, stderr, stderrIsTty: false, env: {} },
    stdout: () => out,
    stderr: () => err,
  };
}

async function run(a: ApiHarness, args: string[], stdin = ''): Promise<{ code: number; stdout: string; stderr: string }> {
  const c = capture(stdin);
  const code = await runClientCommand(args[0]!, [...args.slice(1), '--endpoint', a.baseUrl], c.io);
  return { code, stdout: c.stdout(), stderr: c.stderr() };
}

describe('tsraft import', () => {
  it('imports gzip put lines, reports each rejected line with its number and exits 1', async () => {
    const a = await api();
    const dir = tempDir();
    const lines = ['put sys.cpu.user 1700000000 1 host=a', 'sys.cpu.user 1700000060 2 host=a', '# a comment', '', 'put sys.cpu.user 1700000120 oops host=a', 'put sys.cpu.user 1700000180 4', 'put sys.cpu.user 1700000240 5 host=b'];
    const file = join(dir, 'points.put.gz');
    writeFileSync(file, gzipSync(lines.join('\n') + '\n'));
    const r = await run(a, ['import', file, '--batch', '2']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${file}:5: value "oops" is not an integer [TSR_ERR_INVALID_POINT]`);
    expect(r.stderr).toContain(`${file}:6: not enough arguments`);
    expect(r.stderr).toMatch(/5 records read, 3 points stored, 2 rejected/);
    expect(a.local!.stateMachine.stats().pointCount).toBe(3);
  });

  it('imports a NAB CSV file with --metric and --tags, every row stored', async () => {
    const a = await api();
    const file = '/work/shared/data/nab/realKnownCause/rogue_agent_key_hold.csv';
    const rows = readFileSync(file, 'utf8').trim().split('\n').length - 1;
    const r = await run(a, ['import', file, '--metric', 'nab.rogue_agent_key_hold', '--tags', 'source=nab,kind=known_cause']);
    expect(r.stderr).toMatch(new RegExp(`${rows} records read, ${rows} points stored, 0 rejected`));
    expect(r.code).toBe(0);
    const sm = a.local!.stateMachine;
    expect(sm.seriesOfMetric('nab.rogue_agent_key_hold')[0]!.tags).toEqual({ kind: 'known_cause', source: 'nab' });
    expect(sm.stats().pointCount).toBe(rows);
  });

  it('imports OpenTSDB JSON as an array and as one object per line', async () => {
    const a = await api();
    const dir = tempDir();
    writeFileSync(join(dir, 'a.json'), JSON.stringify([{ metric: 'j', timestamp: 1700000000, value: 1.5, tags: { h: 'a' } }, { metric: 'j', timestamp: 1700000001, value: '2', tags: { h: 'a' } }], null, 2));
    writeFileSync(join(dir, 'b.ndjson'), '{"metric":"j","timestamp":1700000002,"value":3,"tags":{"h":"b"}}\n{"metric":"j","timestamp":1700000003,"value":true,"tags":{"h":"b"}}\n');
    const r = await run(a, ['import', join(dir, 'a.json'), join(dir, 'b.ndjson')]);
    expect(r.stderr).toContain(`${join(dir, 'b.ndjson')}:2: value must be a number`);
    expect(r.stderr).toMatch(/4 records read, 3 points stored, 1 rejected/);
  });

  it('reads put lines from stdin', async () => {
    const a = await api();
    const r = await run(a, ['import', '-'], 'put m 1700000000 1 h=a\nput m 1700000001 2 h=a\n');
    expect(r.code).toBe(0);
    expect(a.local!.stateMachine.stats().pointCount).toBe(2);
  });
});

describe('tsraft export', () => {
  it('exports every point in each format, and an export re-imports to the same data', async () => {
    const source = await api();
    const points = [];
    for (let i = 0; i < 300; i++) points.push(`put e.metric ${1_699_000_000 + i * 97} ${i % 7 === 0 ? i : i + 0.25} host=h${i % 3} dc=x`);
    await run(source, ['import', '-'], points.join('\n'));
    const dir = tempDir();
    for (const format of ['put', 'csv', 'json']) {
      const out = join(dir, `export.${format}`);
      const r = await run(source, ['export', '--metric', 'e.metric', '--format', format, '--out', out, '--start', '1698000000', '--end', '1700000000']);
      expect(r.code).toBe(0);
      expect(r.stderr).toContain('exported 300 points of e.metric');
      const target = await api();
      const back = await run(target, ['import', out]);
      expect(back.stderr).toMatch(/300 points stored, 0 rejected/);
      const q = ['query', 'none:e.metric', '--start', '1698000000', '--end', '1700000000', '--format', 'json'];
      expect((await run(target, q)).stdout).toBe((await run(source, q)).stdout);
    }
  });

  it('keeps only the filtered series', async () => {
    const a = await api();
    await run(a, ['import', '-'], 'put f 1700000000 1 host=a\nput f 1700000000 2 host=b\n');
    const r = await run(a, ['export', '--metric', 'f', '--filter', 'host=b', '--start', '1699999000', '--end', '1700001000']);
    expect(r.stdout).toBe('put f 1700000000000 2 host=b\n');
  });
});

describe('tsraft put and query', () => {
  it('puts one point and queries it in table, csv and json', async () => {
    const a = await api();
    expect((await run(a, ['put', 'q.m', '1700000000', '42', 'host=a'])).code).toBe(0);
    const rejected = await run(a, ['put', 'q.m', '1700000000', 'x', 'host=a']);
    expect(rejected.code).toBe(1);
    expect(rejected.stderr).toMatch(/rejected: value "x"/);
    const args = ['query', 'sum:q.m{host=*}', '--start', '1699999000', '--end', '1700001000'];
    expect((await run(a, args)).stdout).toBe('TIME                      SERIES       VALUE\n2023-11-14T22:13:20.000Z  q.m{host=a}  42\n');
    expect((await run(a, [...args, '--format', 'csv'])).stdout).toBe('metric,tags,timestamp_ms,value\nq.m,host=a,1700000000000,42\n');
    expect(JSON.parse((await run(a, [...args, '--format', 'json'])).stdout)).toEqual([{ metric: 'q.m', tags: { host: 'a' }, aggregateTags: [], dps: { '1700000000000': 42 } }]);
  });
});

describe('the CLI without a reachable cluster', () => {
  async function offline(args: string[]): Promise<{ code: number; stderr: string; error: unknown }> {
    const c = capture('');
    try {
      const code = await runClientCommand(args[0]!, [...args.slice(1), '--endpoint', 'http://127.0.0.1:9'], c.io);
      return { code, stderr: c.stderr(), error: null };
    } catch (error) {
      return { code: -1, stderr: c.stderr(), error };
    }
  }

  it('names a bad point before trying to connect', async () => {
    const r = await offline(['put', 'q.m', 'now', 'notanumber', 'host=a']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/rejected: value "notanumber" is not a number \[TSR_ERR_INVALID_POINT\]/);
  });

  it('names an import file it cannot read before trying to connect', async () => {
    const r = await offline(['import', '/nonexistent/points.put.gz']);
    expect(r.error).toMatchObject({ code: 'TSR_ERR_INVALID_ARGUMENT', message: 'cannot read /nonexistent/points.put.gz: no such file' });
  });
});

describe('import readers', () => {
  it('turns value text into a number only when the number means the same to the node', () => {
    const texts = fc.oneof(
      fc.stringMatching(/^[+-]?[0-9]{0,20}(\.[0-9]{0,6})?([eE][+-]?[0-9]{1,3})?$/),
      fc.constantFrom('4.0', '-0', '5.', '.5', '9007199254740993', '9223372036854775807', '1e3', 'NaN', '0.1', '-12.75'),
    );
    fc.assert(
      fc.property(texts, (text) => {
        expect(parseValue(valueOfText(text))).toEqual(parseValue(text));
      }),
      { numRuns: 1000 },
    );
  });

  it('splits CSV lines with quotes', () => {
    expect(splitCsvLine('a,"b,c","d""e",f')).toEqual(['a', 'b,c', 'd"e', 'f']);
    expect(splitCsvLine('"unterminated,x')).toBeNull();
  });

  it('reads CSV timestamps as dates in UTC or with an offset, or as Unix times', () => {
    expect(parseCsvTimestamp('2013-07-04 00:00:00')).toBe(Date.UTC(2013, 6, 4));
    expect(parseCsvTimestamp('2013-07-04T01:00:00+01:00')).toBe(Date.UTC(2013, 6, 4));
    expect(parseCsvTimestamp('1700000000')).toBe('1700000000');
    expect(parseCsvTimestamp('2013-02-30 00:00:00')).toBeNull();
  });

  it('splits JSON arrays and NDJSON into elements with their line numbers, brackets in strings ignored', async () => {
    const collect = async (text: string) => {
      const out = [];
      for await (const e of jsonElements(Readable.from([text.slice(0, 7), text.slice(7)]))) out.push(e);
      return out;
    };
    expect(await collect('[\n{"a":"]}"},\n{"b":[1,2]}\n]')).toEqual([{ line: 2, text: '{"a":"]}"}' }, { line: 3, text: '{"b":[1,2]}' }]);
    expect(await collect('{"a":1}\n{"b":2}\n')).toEqual([{ line: 1, text: '{"a":1}' }, { line: 2, text: '{"b":2}' }]);
    expect((await collect('[{"a":1}, 42, {"b":2}]')).map((e) => ('error' in e ? 'error' : e.text))).toEqual(['{"a":1}', 'error', '{"b":2}']);
    expect((await collect('[{"a":1}')).some((e) => 'error' in e)).toBe(true);
  });
});
