// The optional telnet-style TCP port (OpenTSDB's `put` lines, which
// tcollector and many collectors speak). Silent on success; a rejected point
// gets one line `put: illegal argument: <why>` (or `put: invalid value: ...`),
// like OpenTSDB. `version` is answered at once (collectors use it as a
// liveness check). Lines that arrive together are stored as one batch; while
// more than maxTelnetPendingPoints points wait to be stored the socket is
// paused (TCP backpressure). With client tokens configured, a connection must
// send `auth <token>` (a read-write token) before its puts are accepted.
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { TsraftError, assert, rethrowIfBug } from '../errors.js';
import type { RawPoint } from '../tsdb/validate.js';
import type { TokenAuth } from './auth.js';
import type { ClientApiLimits } from './limits.js';
import { OPENTSDB_API_VERSION } from './opentsdb-meta.js';
import type { TsdbService } from './service.js';
import { parseTelnetLine } from './telnet-line.js';

export interface TelnetServerOptions {
  service: TsdbService;
  auth: TokenAuth;
  limits: ClientApiLimits;
  version: string;
  log?: (level: 'info' | 'warn', message: string, fields?: Record<string, unknown>) => void;
}

const HELP = 'available commands: put version help exit auth\n';

class TelnetConnection {
  private buffered = '';
  private discarding = false;
  private pendingPoints = 0;
  private authorized: boolean;
  private batch: RawPoint[] = [];
  private chain: Promise<void> = Promise.resolve();
  private closed = false;
  /** `exit` was read: later lines are ignored, the socket ends after the pending batches. */
  private ending = false;

  constructor(
    private readonly socket: Socket,
    private readonly options: TelnetServerOptions,
  ) {
    this.authorized = !options.auth.required;
    socket.setEncoding('utf8');
    socket.setNoDelay(true);
    socket.on('data', (chunk: string) => this.onData(chunk));
    socket.on('error', () => socket.destroy());
    socket.on('close', () => {
      this.closed = true;
    });
  }

  private write(text: string): void {
    if (!this.closed && this.socket.writable) this.socket.write(text);
  }

  private onData(chunk: string): void {
    if (this.ending) return;
    const maxLine = this.options.limits.maxTelnetLineBytes;
    let text = this.buffered + chunk;
    this.buffered = '';
    let start = 0;
    for (;;) {
      const nl = text.indexOf('\n', start);
      if (nl < 0) break;
      const line = text.slice(start, nl);
      start = nl + 1;
      if (this.discarding) {
        this.discarding = false;
        continue;
      }
      if (line.length > maxLine) {
        this.write(`put: illegal argument: line longer than ${maxLine} bytes\n`);
        continue;
      }
      this.onLine(line.endsWith('\r') ? line.slice(0, -1) : line);
      if (this.ending) return;
    }
    text = text.slice(start);
    if (text.length > maxLine) {
      // The rest of this over-long line is dropped up to its newline.
      if (!this.discarding) this.write(`put: illegal argument: line longer than ${maxLine} bytes\n`);
      this.discarding = true;
      text = '';
    }
    this.buffered = text;
    this.flush();
  }

  private onLine(line: string): void {
    const cmd = parseTelnetLine(line);
    switch (cmd.kind) {
      case 'empty':
        return;
      case 'put':
        if (!this.authorized) {
          this.write('put: unauthorized: send `auth <token>` with a read-write token first\n');
          return;
        }
        this.batch.push(cmd.point);
        if (this.batch.length >= this.options.limits.maxPointsPerPut) this.flush();
        return;
      case 'bad-put':
        this.write(`put: illegal argument: ${cmd.message}\n`);
        return;
      case 'version':
        this.write(`net.opentsdb.tools BuildData built at revision tsraft ${this.options.version} (OpenTSDB API ${OPENTSDB_API_VERSION})\nBuilt by tsraft\n`);
        return;
      case 'help':
        this.write(HELP);
        return;
      case 'exit':
        this.flush();
        this.ending = true;
        void this.chain.then(() => this.socket.end());
        return;
      case 'auth': {
        const access = this.options.auth.accessOfToken(cmd.token);
        this.authorized = access === 'read-write';
        this.write(this.authorized ? 'auth: ok\n' : 'auth: refused (unknown or read-only token)\n');
        return;
      }
      case 'unknown':
        this.write(`unknown command: ${cmd.command}.  Try \`help'.\n`);
        return;
    }
  }

  private flush(): void {
    if (this.batch.length === 0) return;
    const points = this.batch;
    this.batch = [];
    this.pendingPoints += points.length;
    if (this.pendingPoints > this.options.limits.maxTelnetPendingPoints) this.socket.pause();
    // Batches are stored in arrival order, one at a time per connection.
    this.chain = this.chain.then(() => this.store(points));
  }

  private async store(points: RawPoint[]): Promise<void> {
    try {
      const result = await this.options.service.put({ kind: 'objects', points });
      for (const e of result.errors) {
        const kind = e.details.field === 'value' ? 'invalid value' : 'illegal argument';
        this.write(`put: ${kind}: ${e.message}\n`);
      }
      if (result.failed > result.errors.length) this.write(`put: illegal argument: ${result.failed - result.errors.length} more points rejected\n`);
    } catch (error) {
      rethrowIfBug(error);
      const e = error instanceof TsraftError ? error : new TsraftError('TSR_ERR_INTERNAL', String(error));
      this.write(`put: ${e.code}: ${e.message} (${points.length} points not stored)\n`);
    } finally {
      this.pendingPoints -= points.length;
      assert(this.pendingPoints >= 0, 'telnet pending points went negative');
      if (this.pendingPoints <= this.options.limits.maxTelnetPendingPoints && this.socket.isPaused()) this.socket.resume();
    }
  }
}

export class TelnetServer {
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();

  constructor(private readonly options: TelnetServerOptions) {
    this.server = createServer((socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
      new TelnetConnection(socket, options);
    });
    this.server.maxConnections = options.limits.maxTelnetConnections;
  }

  async listen(host: string, port: number): Promise<AddressInfo> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen({ host, port }, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    this.server.on('error', (error) => this.options.log?.('warn', 'telnet server error', { error: String(error) }));
    const address = this.server.address();
    assert(address !== null && typeof address === 'object', 'telnet server has no address');
    return address;
  }

  get connectionCount(): number {
    return this.sockets.size;
  }

  /** Stops accepting and closes every connection. */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const socket of this.sockets) socket.destroy();
    await closed;
  }
}
