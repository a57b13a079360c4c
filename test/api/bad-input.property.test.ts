// Random frames and random /api/put bodies thrown at a running server: no
// crash (an uncaught error fails the run), no hang (every frame is answered
// within a bound), every request answered, and the connection and the
// server keep serving afterwards.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { encodeBinaryFrame, encodeTextFrame } from '../../src/api/protocol.js';
import { startApi, type ApiHarness } from './harness.js';
import { RawWsClient, type Message } from './ws-client.js';

let api: ApiHarness;
let ws: RawWsClient;
const ANSWER_BOUND_MS = 2_000;
/** More runs for a longer hunt: TSRAFT_FUZZ_RUNS=20000 npx vitest run test/api/bad-input. */
const RUNS = Number(process.env.TSRAFT_FUZZ_RUNS ?? 400);

beforeAll(async () => {
  api = await startApi({ limits: { maxFrameBytes: 64 * 1024, maxPointsPerPut: 500, maxSubscriptionsPerConnection: 8 } });
  ws = await RawWsClient.open(api.wsUrl);
});

afterAll(async () => {
  await ws.close();
  await api.close();
});

const isAnswer = (m: Message): boolean => m.push === undefined;

const names = fc.oneof(fc.constantFrom('sys.cpu.user', 'm', 'a-b_c.d/e', 'ü', ''), fc.string({ maxLength: 12 }), fc.integer(), fc.constant(null), fc.object({ maxDepth: 1 }));
const tags = fc.oneof(fc.dictionary(fc.string({ maxLength: 6 }), names, { maxKeys: 10 }), fc.constant({ host: 'web01' }), fc.anything());
const timestamps = fc.oneof(fc.integer(), fc.constantFrom(1_700_000_000, 1_700_000_000_123, 0, -1, 2 ** 32, 1e13), fc.double(), fc.bigInt(), fc.string({ maxLength: 16 }));
const values = fc.oneof(fc.double(), fc.integer(), fc.bigInt(), fc.string({ maxLength: 16 }), fc.constantFrom('NaN', '1e999', '4.0', '-0', '9223372036854775808'), fc.anything(), fc.object());
const pointLike = fc.record({ metric: names, timestamp: timestamps, value: values, tags }, { requiredKeys: [] });
const ops = fc.oneof(fc.constantFrom('put', 'query', 'suggest', 'lookup', 'last', 'status', 'ping', 'subscribe', 'unsubscribe'), fc.string({ maxLength: 10 }), fc.anything(), fc.object(), fc.array(fc.nat()));
const ids = fc.oneof(fc.integer({ min: 1, max: 1_000_000 }), fc.constantFrom(0, -1, 1.5, 2 ** 60), fc.string({ maxLength: 4 }), fc.constant(undefined));

const request = fc.record(
  {
    id: ids,
    op: ops,
    points: fc.oneof(fc.array(pointLike, { maxLength: 20 }), fc.anything()),
    series: fc.oneof(fc.array(fc.tuple(names, tags), { maxLength: 4 }), fc.anything()),
    seriesIndexes: fc.oneof(fc.array(fc.integer({ min: -1, max: 5 }), { maxLength: 6 }), fc.anything()),
    timestamps: fc.array(timestamps, { maxLength: 6 }),
    values: fc.array(values, { maxLength: 6 }),
    m: fc.oneof(fc.constantFrom('sum:sys.cpu.user', 'avg:1m-avg:rate{counter}:m{host=*}', 'x:y:z:w:v:u'), fc.string({ maxLength: 30 })),
    start: fc.oneof(fc.constantFrom('1h-ago', '0', 'now'), fc.string({ maxLength: 8 }), fc.integer()),
    query: fc.oneof(fc.record({ start: fc.constant('1h-ago'), queries: fc.array(fc.record({ aggregator: fc.constantFrom('sum', 'nope'), metric: names }), { maxLength: 3 }) }), fc.anything()),
    type: fc.oneof(fc.constantFrom('metrics', 'tagk', 'tagv'), fc.anything(), fc.object()),
    q: fc.oneof(fc.anything(), fc.object()),
    max: fc.oneof(fc.integer(), fc.anything()),
    metric: names,
    tags,
    filters: fc.anything(),
    sub: fc.oneof(fc.anything(), fc.object()),
    consistency: fc.oneof(fc.constantFrom('stale', 'linearizable'), fc.anything()),
    clientId: fc.oneof(fc.constant(undefined), fc.string({ maxLength: 70 }), fc.anything()),
    seq: fc.oneof(fc.constant(undefined), fc.integer(), fc.anything()),
    queries: fc.anything(),
  },
  { requiredKeys: [] },
);

type Frame = { data: Uint8Array | string; binary: boolean };

const frames: fc.Arbitrary<Frame> = fc.oneof(
  request.map((r) => ({ data: encodeBinaryFrame(r), binary: true })),
  request.map((r) => ({ data: encodeTextFrame(r), binary: false })),
  fc.uint8Array({ maxLength: 256 }).map((data) => ({ data, binary: true })),
  fc.string({ maxLength: 256 }).map((data) => ({ data, binary: false })),
  fc.jsonValue({ maxDepth: 4 }).map((v) => ({ data: JSON.stringify(v) ?? 'null', binary: false })),
  fc.tuple(request, fc.nat(), fc.nat(255)).map(([r, at, byte]) => {
    const data = encodeBinaryFrame(r);
    data[at % data.length] = byte;
    return { data, binary: true };
  }),
  fc.integer({ min: 1, max: 40 }).map((depth) => ({ data: '['.repeat(depth * 10) + ']'.repeat(depth * 10), binary: false })),
);

let pingId = 2 ** 40;

async function within<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ANSWER_BOUND_MS} ms: ${what}`)), ANSWER_BOUND_MS);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

describe('random input on a running node', () => {
  it('answers every random WebSocket frame and keeps the connection and the node up', async () => {
    await fc.assert(
      fc.asyncProperty(frames, async (frame) => {
        const answersBefore = ws.received.filter(isAnswer).length;
        ws.sendRaw(frame.data, frame.binary);
        const id = pingId++;
        ws.sendCbor({ id, op: 'ping' });
        await within(ws.answer(id), 'ping after a random frame');
        // The random frame's own answer may come after the ping's.
        await within(
          ws.waitFor(() => ws.received.filter(isAnswer).length >= answersBefore + 2),
          'answer to the random frame',
        );
        expect(ws.received.filter(isAnswer).length).toBe(answersBefore + 2);
      }),
      { numRuns: RUNS },
    );
    expect((await ws.request({ id: pingId++, op: 'status' })).ok).toBe(true);
  });

  it('answers every random /api/put body with 204, 200, 400 or 413 and a well-formed body', async () => {
    const bodies = fc.oneof(
      fc.array(pointLike, { maxLength: 20 }).map((ps) => JSON.stringify(ps, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))),
      pointLike.map((p) => JSON.stringify(p, (_k, v: unknown) => (typeof v === 'bigint' ? Number(v) : v))),
      fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v) ?? ''),
      fc.string({ maxLength: 200 }),
    );
    const queries = fc.constantFrom('', '?summary', '?details', '?details&summary', '?sync');
    await fc.assert(
      fc.asyncProperty(bodies, queries, async (body, query) => {
        const res = await within(fetch(`${api.baseUrl}/api/put${query}`, { method: 'POST', body, headers: { 'content-type': 'application/json' } }), 'put');
        const text = await res.text();
        expect([200, 204, 400, 413]).toContain(res.status);
        if (res.status === 204) {
          expect(text).toBe('');
          return;
        }
        const parsed = JSON.parse(text) as Record<string, unknown>;
        if (parsed.error !== undefined) {
          expect(Object.keys(parsed.error as object)).toEqual(['code', 'message', 'details']);
          expect((parsed.error as { code: number }).code).toBe(res.status);
        } else {
          expect(typeof parsed.success).toBe('number');
          expect(typeof parsed.failed).toBe('number');
          expect(res.status).toBe((parsed.failed as number) > 0 ? 400 : 200);
        }
      }),
      { numRuns: Math.ceil(RUNS / 2) },
    );
    const health = await fetch(`${api.baseUrl}/api/version`);
    expect(health.status).toBe(200);
  });
});
