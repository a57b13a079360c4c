// A raw WebSocket test client: sends frames exactly as given and collects
// every frame the node sends back (answers by id, pushes in order).
import WebSocket from 'ws';
import { SUBPROTOCOL_CBOR, SUBPROTOCOL_JSON, decodeBinaryFrame, decodeTextFrame, encodeBinaryFrame, encodeTextFrame } from '../../src/api/protocol.js';

export type Message = Record<string, unknown>;

export class RawWsClient {
  readonly received: Message[] = [];
  private waiters: Array<{ match: (m: Message) => boolean; resolve: (m: Message) => void }> = [];

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      const decoded = isBinary ? decodeBinaryFrame(data) : decodeTextFrame(data.toString('utf8'), 1 << 30);
      if (!decoded.ok) throw new Error(`the node sent a bad frame: ${decoded.error.message}`);
      const m = decoded.message;
      this.received.push(m);
      for (const w of [...this.waiters]) {
        if (w.match(m)) {
          this.waiters = this.waiters.filter((x) => x !== w);
          w.resolve(m);
        }
      }
    });
  }

  static open(url: string, options: { protocol?: 'cbor' | 'json' | null; headers?: Record<string, string> } = {}): Promise<RawWsClient> {
    const protocols = options.protocol === null ? [] : [options.protocol === 'json' ? SUBPROTOCOL_JSON : SUBPROTOCOL_CBOR];
    const ws = new WebSocket(url, protocols, { headers: options.headers ?? {} });
    const client = new RawWsClient(ws);
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(client));
      ws.once('error', reject);
      ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    });
  }

  /** Resolves with the first frame (already received or future) matching. */
  waitFor(match: (m: Message) => boolean): Promise<Message> {
    const found = this.received.find(match);
    if (found !== undefined) return Promise.resolve(found);
    return new Promise((resolve) => this.waiters.push({ match, resolve }));
  }

  answer(id: number | null): Promise<Message> {
    return this.waitFor((m) => m.id === id && m.push === undefined);
  }

  sendCbor(message: unknown): void {
    this.ws.send(encodeBinaryFrame(message));
  }

  sendJson(message: unknown): void {
    this.ws.send(encodeTextFrame(message));
  }

  sendRaw(data: Uint8Array | string, binary: boolean): void {
    this.ws.send(data, { binary });
  }

  async request(message: Message, encoding: 'cbor' | 'json' = 'cbor'): Promise<Message> {
    if (encoding === 'cbor') this.sendCbor(message);
    else this.sendJson(message);
    return this.answer(message.id as number);
  }

  async close(): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return;
    await new Promise<void>((resolve) => {
      this.ws.once('close', () => resolve());
      this.ws.close();
    });
  }
}
