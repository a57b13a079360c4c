import { afterEach, describe, expect, it } from 'vitest';
import { connect, type Socket } from 'node:net';
import { parseTelnetLine } from '../../src/api/telnet-line.js';
import { get, startApi, type ApiHarness } from './harness.js';

let api: ApiHarness | null = null;
const sockets: Socket[] = [];

afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await api?.close();
  api = null;
});

class LineReader {
  private text = '';
  private waiters: Array<() => void> = [];
  constructor(readonly socket: Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      this.text += chunk;
      for (const w of this.waiters.splice(0)) w();
    });
  }
  /** Waits until `count` lines arrived, returns them all. */
  async lines(count: number): Promise<string[]> {
    while (this.text.split('\n').length - 1 < count) await new Promise<void>((resolve) => this.waiters.push(resolve));
    return this.text.split('\n').slice(0, -1);
  }
}

async function open(options: Parameters<typeof startApi>[0] = {}): Promise<LineReader> {
  api = await startApi({ telnet: true, ...options });
  const socket = connect(api.telnetPort!, '127.0.0.1');
  sockets.push(socket);
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  return new LineReader(socket);
}

describe('telnet put lines', () => {
  it('stores put lines silently and answers version at once', async () => {
    const reader = await open();
    reader.socket.write('put sys.cpu.user 1700000000 42 host=web01 cpu=0\nput sys.cpu.user 1700000000.500 4.5 host=web02\r\n\nversion\n');
    const lines = await reader.lines(2);
    expect(lines[0]).toMatch(/^net\.opentsdb\.tools BuildData built at revision tsraft/);
    await expect.poll(() => api!.local!.stateMachine.stats().pointCount).toBe(2);
    const res = await get(`${api!.baseUrl}/api/query?start=1699999000&end=1700001000&m=sum:sys.cpu.user{host=web02}&ms=true`);
    expect(res.text).toContain('"1700000000500":4.5');
  });

  it('answers each rejected point with an error line and stores the others', async () => {
    const reader = await open();
    reader.socket.write('put m 1700000000 1 h=a\nput m 1700000000 abc h=a\nput bad#name 1700000000 1 h=a\nput m 1700000000 1\nput m 1700000000 1 novalue\nhello\n');
    const lines = await reader.lines(5);
    expect(lines).toEqual([
      'put: illegal argument: not enough arguments (need least 4, got 3)',
      'put: illegal argument: invalid tag: novalue',
      "unknown command: hello.  Try `help'.",
      'put: invalid value: value "abc" is not an integer',
      expect.stringMatching(/^put: illegal argument: metric has illegal character "#"/) as string,
    ]);
    expect(api!.local!.stateMachine.stats().pointCount).toBe(1);
  });

  it('refuses an over-long line without dropping the connection', async () => {
    const reader = await open({ limits: { maxTelnetLineBytes: 64 } });
    reader.socket.write(`put m 1700000000 1 h=${'x'.repeat(100)}\nversion\n`);
    const lines = await reader.lines(2);
    expect(lines[0]).toBe('put: illegal argument: line longer than 64 bytes');
    expect(lines[1]).toMatch(/BuildData/);
  });

  it('asks for auth before puts when tokens are configured', async () => {
    const token = 'telnet-token-0123456789abc';
    const reader = await open({ tokens: [{ token, access: 'read-write' }] });
    reader.socket.write(`put m 1700000000 1 h=a\nauth ${token}\nput m 1700000000 1 h=a\n`);
    const lines = await reader.lines(2);
    expect(lines[0]).toMatch(/^put: unauthorized/);
    expect(lines[1]).toBe('auth: ok');
    await expect.poll(() => api!.local!.stateMachine.stats().pointCount).toBe(1);
  });

  it('closes the connection on exit after storing what came before', async () => {
    const reader = await open();
    const closed = new Promise<void>((resolve) => reader.socket.once('end', () => resolve()));
    reader.socket.write('put m 1700000000 1 h=a\nexit\nput m 1700000001 1 h=a\n');
    await closed;
    expect(api!.local!.stateMachine.stats().pointCount).toBe(1);
  });
});

describe('parseTelnetLine', () => {
  it('splits words on runs of blanks and keeps a __proto__ tag as a tag', () => {
    const cmd = parseTelnetLine('put  m\t1 2  __proto__=x');
    expect(cmd.kind).toBe('put');
    const tags = (cmd as { point: { tags: Record<string, string> } }).point.tags;
    expect(Object.keys(tags)).toEqual(['__proto__']);
  });

  it('refuses a tag given twice with two values', () => {
    expect(parseTelnetLine('put m 1 2 a=b a=c').kind).toBe('bad-put');
  });
});
