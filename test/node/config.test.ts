import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULTS, DEFAULT_LIMITS, loadNodeConfig, parseNodeConfig } from '../../src/config/index.js';
import { TsraftError } from '../../src/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'tsraft-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const SECRET = 'a-secret-of-at-least-16-bytes';

function minimal(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    nodeId: 'n1',
    clusterId: 'c1',
    dataDir: 'data/n1',
    secret: SECRET,
    peers: { n1: 'ws://127.0.0.1:8180', n2: 'ws://127.0.0.1:8181', n3: 'ws://127.0.0.1:8182' },
    ...extra,
  };
}

/** The problems a configuration is refused for, as `field: problem` lines. */
function problemsOf(raw: unknown): Array<{ field: string; problem: string }> {
  try {
    parseNodeConfig(raw, { baseDir: dir, configPath: null });
  } catch (error) {
    expect(error).toBeInstanceOf(TsraftError);
    expect((error as TsraftError).code).toBe('TSR_ERR_INVALID_CONFIG');
    return (error as TsraftError).details.problems as Array<{ field: string; problem: string }>;
  }
  throw new Error('the configuration was accepted');
}

function fields(raw: unknown): string[] {
  return problemsOf(raw).map((p) => p.field);
}

describe('node configuration', () => {
  it('fills in the documented defaults', () => {
    const config = parseNodeConfig(minimal(), { baseDir: dir, configPath: null });
    expect(config.httpHost).toBe(DEFAULTS.httpHost);
    expect(config.httpPort).toBe(DEFAULTS.httpPort);
    expect(config.tickIntervalMs).toBe(DEFAULTS.tickIntervalMs);
    expect(config.electionTimeoutTicks).toBe(DEFAULTS.electionTimeoutTicks);
    expect(config.limits).toEqual(DEFAULT_LIMITS);
    expect(config.join).toBe(false);
    expect(config.tls).toBeNull();
    expect(new TextDecoder().decode(config.secret)).toBe(SECRET);
  });

  it('resolves relative paths against the configuration file directory', () => {
    const config = parseNodeConfig(minimal(), { baseDir: dir, configPath: null });
    expect(config.dataDir).toBe(join(dir, 'data/n1'));
  });

  it('takes its own peer URL from the peers map', () => {
    const config = parseNodeConfig(minimal(), { baseDir: dir, configPath: null });
    expect(config.peerUrl).toBe('ws://127.0.0.1:8180');
  });

  it('names a peer whose URL is not a WebSocket URL', () => {
    const problems = problemsOf(minimal({ peers: { n1: 'ws://127.0.0.1:8180', n2: 'http://127.0.0.1:8181' } }));
    expect(problems).toEqual([{ field: 'config.peers.n2', problem: expect.stringContaining('not a ws:// or wss:// URL') }]);
  });

  it('rejects unknown fields by name', () => {
    expect(fields(minimal({ electionTimeoutTick: 10 }))).toEqual(['config.electionTimeoutTick']);
    expect(fields(minimal({ limits: { maxFrameByte: 1 } }))).toEqual(['config.limits.maxFrameByte']);
  });

  it('names each missing required field', () => {
    expect(fields({ peers: {} }).sort()).toEqual(['config.clusterId', 'config.dataDir', 'config.nodeId', 'config.secret']);
  });

  it('names a field of the wrong type or outside its bounds', () => {
    expect(problemsOf(minimal({ httpPort: '8080' }))).toEqual([{ field: 'config.httpPort', problem: expect.stringContaining('must be an integer') }]);
    expect(problemsOf(minimal({ peerPort: 70000 }))).toEqual([{ field: 'config.peerPort', problem: expect.stringContaining('[0, 65535]') }]);
    expect(fields(minimal({ join: 'yes' }))).toEqual(['config.join']);
    expect(fields(minimal({ logLevel: 'loud' }))).toEqual(['config.logLevel']);
  });

  it('refuses an election timeout too short for the heartbeat interval', () => {
    expect(fields(minimal({ electionTimeoutTicks: 4, heartbeatIntervalTicks: 2 }))).toEqual(['config.electionTimeoutTicks']);
  });

  it('refuses a short secret and a secret given twice', () => {
    expect(problemsOf(minimal({ secret: 'short' }))).toEqual([{ field: 'config.secret', problem: expect.stringContaining('at least 16 bytes') }]);
    expect(fields(minimal({ secretFile: 'secret.txt' }))).toEqual(['config.secretFile']);
  });

  it('requires the founding members to include this node unless it joins', () => {
    expect(fields(minimal({ peers: { n2: 'ws://127.0.0.1:8181' } }))).toEqual(['config.peers']);
    const joining = parseNodeConfig(minimal({ nodeId: 'n4', join: true, peerPort: 8183 }), { baseDir: dir, configPath: null });
    expect(joining.join).toBe(true);
    expect(joining.peerUrl).toBe('ws://127.0.0.1:8183');
  });

  it('refuses a limit that would not fit in a peer frame', () => {
    expect(fields(minimal({ limits: { maxAppendBytes: 9 * 1048576 } }))).toEqual(['config.limits.maxAppendBytes']);
  });

  it('requires wss:// peers when TLS is configured', () => {
    expect(fields(minimal({ tls: { certFile: 'c.pem', keyFile: 'k.pem' } }))).toEqual(['config.peers.n1', 'config.peers.n2', 'config.peers.n3']);
    expect(fields(minimal({ tls: { certFile: 'c.pem' } }))).toEqual(['config.tls.keyFile']);
  });

  it('names tsdb options of the state machine', () => {
    expect(fields(minimal({ tsdb: { maxSeries: 0 } }))).toEqual(['config.tsdb.maxSeries']);
    expect(parseNodeConfig(minimal({ tsdb: { maxSeries: 5 } }), { baseDir: dir, configPath: null }).tsdb.maxSeries).toBe(5);
  });

  it('lists every problem in the message, each with its field', () => {
    try {
      parseNodeConfig(minimal({ httpPort: -1, peers: { n1: 'ws://127.0.0.1:8180', n2: 'nope' } }), { baseDir: dir, configPath: null });
      throw new Error('accepted');
    } catch (error) {
      expect((error as Error).message).toContain('config.httpPort: must lie in [0, 65535]');
      expect((error as Error).message).toContain('config.peers.n2: not a ws:// or wss:// URL');
    }
  });

  it('reads the secret from a file, without its trailing newline', () => {
    writeFileSync(join(dir, 'secret'), 'file-secret-0123456789\n');
    const path = join(dir, 'node.json');
    const { secret: _omit, ...raw } = minimal();
    writeFileSync(path, JSON.stringify({ ...raw, secretFile: 'secret' }));
    const config = loadNodeConfig(path);
    expect(new TextDecoder().decode(config.secret)).toBe('file-secret-0123456789');
    expect(config.configPath).toBe(path);
  });

  it('reports a file that is not JSON or cannot be read', () => {
    const path = join(dir, 'broken.json');
    writeFileSync(path, '{"nodeId": ');
    expect(() => loadNodeConfig(path)).toThrow(/config: is not valid JSON/);
    expect(() => loadNodeConfig(join(dir, 'missing.json'))).toThrow(/cannot read .*missing\.json: no such file/);
  });

  it('reports a missing secret file by its field', () => {
    const path = join(dir, 'nosecret.json');
    const { secret: _omit, ...raw } = minimal();
    writeFileSync(path, JSON.stringify({ ...raw, secretFile: 'does-not-exist' }));
    expect(() => loadNodeConfig(path)).toThrow(/config\.secretFile: cannot read/);
  });
});

describe('the example configurations in config/', () => {
  for (const name of ['node1.json', 'node2.json', 'node3.json', 'single-node.json']) {
    it(`accepts config/${name}`, () => {
      const config = loadNodeConfig(join('config', name));
      expect(config.peers[config.nodeId]).toBe(config.peerUrl);
    });
  }

  it('gives the three example nodes identical peer maps (their founding membership must match)', () => {
    const peers = ['node1.json', 'node2.json', 'node3.json'].map((name) => loadNodeConfig(join('config', name)).peers);
    expect(peers[1]).toEqual(peers[0]);
    expect(peers[2]).toEqual(peers[0]);
  });
});
