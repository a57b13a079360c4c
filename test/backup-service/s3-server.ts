// A minimal S3-compatible server for the tests and the benchmark, on
// 127.0.0.1 (port 0). Why our own: s3rver (also used, in s3rver.test.ts)
// does not implement ListMultipartUploads, ListParts or
// AbortMultipartUpload, which resuming and cleaning up interrupted uploads
// need. It covers exactly the calls src/backup/destinations/s3.ts makes,
// path-style, with AWS Signature V4 checked against one key pair and the
// signed payload hash checked against every body. Objects live in files under
// a temp directory (metadata in memory).
//
// Fault injection for tests: failNext() answers matching requests with an
// error or drops the connection; corrupt() flips a stored byte.
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { createReadStream, mkdtempSync, rmSync, writeFileSync, readFileSync, statSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface S3Credentials {
  accessKeyId: string;
  secretAccessKey: string;
}

interface StoredObject {
  file: string;
  size: number;
  etag: string;
  metadata: Record<string, string>;
  modified: Date;
}

interface Upload {
  key: string;
  bucket: string;
  id: string;
  initiated: Date;
  metadata: Record<string, string>;
  parts: Map<number, { file: string; size: number; etag: string }>;
}

export type Operation =
  | 'CreateBucket' | 'HeadBucket' | 'ListObjectsV2' | 'ListMultipartUploads' | 'DeleteObjects'
  | 'PutObject' | 'GetObject' | 'HeadObject' | 'DeleteObject'
  | 'CreateMultipartUpload' | 'UploadPart' | 'CompleteMultipartUpload' | 'AbortMultipartUpload' | 'ListParts';

export interface Fault {
  operation: Operation;
  /** Only requests whose key contains this text (default: any). */
  keyIncludes?: string;
  /** How many matching requests fail (default 1). */
  times?: number;
  /** 'error': HTTP 500 InternalError; 'drop': the connection is destroyed mid-request. */
  mode?: 'error' | 'drop';
  /** Matching requests to let through before the fault starts (default 0). */
  after?: number;
}

const MIN_PART_BYTES = 5 * 1024 * 1024;

function xmlEscape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function rfc3986(text: string): string {
  return encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

function hmac(key: Buffer | string, data: string): Buffer {
  return createHmac('sha256', key).update(data, 'utf8').digest();
}

export class TestS3Server {
  readonly dir = mkdtempSync(join(tmpdir(), 'tsraft-s3-'));
  private readonly buckets = new Map<string, Map<string, StoredObject>>();
  private readonly uploads = new Map<string, Upload>();
  private readonly faults: Array<Fault & { remaining: number; skip: number }> = [];
  private server: Server | null = null;
  private fileCounter = 0;
  /** Every request answered, oldest first (bounded). */
  readonly log: Array<{ operation: Operation; key: string; status: number }> = [];
  port = 0;
  /** Delay before answering each PutObject / UploadPart, ms (makes a backup last a while). */
  writeLatencyMs = 0;

  constructor(readonly credentials: S3Credentials = { accessKeyId: 'TSRAFTTESTKEY', secretAccessKey: randomBytes(16).toString('hex') }) {}

  get endpoint(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Settings for S3Destination pointing here. */
  settings(): { endpoint: string; region: string; accessKeyId: string; secretAccessKey: string } {
    return { endpoint: this.endpoint, region: 'us-east-1', ...this.credentials };
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((error: unknown) => {
        if (!res.headersSent) this.error(res, 500, 'InternalError', (error as Error).message);
        else res.destroy();
      });
    });
    await new Promise<void>((resolvePromise) => this.server!.listen(0, '127.0.0.1', resolvePromise));
    this.port = (this.server.address() as { port: number }).port;
    return this;
  }

  async close(): Promise<void> {
    if (this.server !== null) {
      this.server.closeAllConnections();
      await new Promise<void>((resolvePromise) => this.server!.close(() => resolvePromise()));
      this.server = null;
    }
    rmSync(this.dir, { recursive: true, force: true });
  }

  createBucket(name: string): void {
    if (!this.buckets.has(name)) this.buckets.set(name, new Map());
  }

  failNext(fault: Fault): void {
    this.faults.push({ ...fault, remaining: fault.times ?? 1, skip: fault.after ?? 0 });
  }

  clearFaults(): void {
    this.faults.length = 0;
  }

  keys(bucket: string): string[] {
    return [...(this.buckets.get(bucket)?.keys() ?? [])].sort();
  }

  pendingUploads(): Array<{ key: string; parts: number }> {
    return [...this.uploads.values()].map((u) => ({ key: u.key, parts: u.parts.size }));
  }

  /** The bytes of a stored object. */
  object(bucket: string, key: string): Buffer {
    const object = this.buckets.get(bucket)?.get(key);
    if (object === undefined) throw new Error(`no object ${bucket}/${key}`);
    return readFileSync(object.file);
  }

  /** Flips one byte of a stored object (at `offset`, default the middle). */
  corrupt(bucket: string, key: string, offset?: number): void {
    const object = this.buckets.get(bucket)?.get(key);
    if (object === undefined) throw new Error(`no object ${bucket}/${key}`);
    const bytes = readFileSync(object.file);
    const at = offset ?? Math.floor(bytes.length / 2);
    bytes[at] = bytes[at]! ^ 0x40;
    writeFileSync(object.file, bytes);
  }

  count(operation: Operation): number {
    return this.log.filter((l) => l.operation === operation).length;
  }

  private newFile(data: Buffer): string {
    const file = join(this.dir, `o${this.fileCounter++}`);
    writeFileSync(file, data);
    return file;
  }

  private record(operation: Operation, key: string, status: number): void {
    this.log.push({ operation, key, status });
    if (this.log.length > 100_000) this.log.shift();
  }

  private error(res: ServerResponse, status: number, code: string, message: string): void {
    const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${xmlEscape(message)}</Message></Error>`;
    res.writeHead(status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  }

  private xml(res: ServerResponse, body: string, headers: Record<string, string> = {}): void {
    const text = `<?xml version="1.0" encoding="UTF-8"?>\n${body}`;
    res.writeHead(200, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(text), ...headers });
    res.end(text);
  }

  /** AWS Signature Version 4 (header form), as S3 checks it. */
  private checkSignature(req: IncomingMessage, rawPath: string, rawQuery: string, payloadHash: string): string | null {
    const auth = req.headers.authorization ?? '';
    const match = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/s3\/aws4_request, ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]{64})$/.exec(auth);
    if (match === null) return 'missing or malformed Authorization header';
    const [, accessKey, date, region, signedHeaders, signature] = match as unknown as [string, string, string, string, string, string];
    if (accessKey !== this.credentials.accessKeyId) return `unknown access key ${accessKey}`;
    const amzDate = String(req.headers['x-amz-date'] ?? '');
    const query = rawQuery === ''
      ? ''
      : rawQuery
          .split('&')
          .map((pair) => {
            const at = pair.indexOf('=');
            const k = decodeURIComponent(at < 0 ? pair : pair.slice(0, at));
            const v = at < 0 ? '' : decodeURIComponent(pair.slice(at + 1).replace(/\+/g, '%20'));
            return [rfc3986(k), rfc3986(v)] as const;
          })
          .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : 1))
          .map(([k, v]) => `${k}=${v}`)
          .join('&');
    const headers = signedHeaders
      .split(';')
      .map((name) => {
        const value = req.headers[name];
        return `${name}:${(Array.isArray(value) ? value.join(',') : String(value ?? '')).trim().replace(/\s+/g, ' ')}\n`;
      })
      .join('');
    const canonical = [req.method, rawPath, query, headers, signedHeaders, payloadHash].join('\n');
    const toSign = ['AWS4-HMAC-SHA256', amzDate, `${date}/${region}/s3/aws4_request`, createHash('sha256').update(canonical).digest('hex')].join('\n');
    const key = hmac(hmac(hmac(hmac(`AWS4${this.credentials.secretAccessKey}`, date), region), 's3'), 'aws4_request');
    const expected = createHmac('sha256', key).update(toSign).digest('hex');
    return expected === signature ? null : 'SignatureDoesNotMatch';
  }

  private classify(method: string, key: string, query: URLSearchParams): Operation | null {
    if (key === '') {
      if (method === 'PUT') return 'CreateBucket';
      if (method === 'HEAD') return 'HeadBucket';
      if (method === 'GET' && query.has('uploads')) return 'ListMultipartUploads';
      if (method === 'GET') return 'ListObjectsV2';
      if (method === 'POST' && query.has('delete')) return 'DeleteObjects';
      return null;
    }
    if (method === 'PUT' && query.has('uploadId')) return 'UploadPart';
    if (method === 'PUT') return 'PutObject';
    if (method === 'GET' && query.has('uploadId')) return 'ListParts';
    if (method === 'GET') return 'GetObject';
    if (method === 'HEAD') return 'HeadObject';
    if (method === 'DELETE' && query.has('uploadId')) return 'AbortMultipartUpload';
    if (method === 'DELETE') return 'DeleteObject';
    if (method === 'POST' && query.has('uploads')) return 'CreateMultipartUpload';
    if (method === 'POST' && query.has('uploadId')) return 'CompleteMultipartUpload';
    return null;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const rawUrl = req.url ?? '/';
    const q = rawUrl.indexOf('?');
    const rawPath = q < 0 ? rawUrl : rawUrl.slice(0, q);
    const rawQuery = q < 0 ? '' : rawUrl.slice(q + 1);
    const query = new URLSearchParams(rawQuery);
    const segments = rawPath.split('/').slice(1);
    const bucketName = decodeURIComponent(segments[0] ?? '');
    const key = segments.slice(1).map(decodeURIComponent).join('/');
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    const operation = this.classify(req.method ?? 'GET', key, query);
    if (operation === null) return this.error(res, 405, 'MethodNotAllowed', `${req.method} ${rawPath}`);
    const payloadHash = String(req.headers['x-amz-content-sha256'] ?? '');
    const problem = this.checkSignature(req, rawPath, rawQuery, payloadHash);
    if (problem !== null) {
      this.record(operation, key, 403);
      return this.error(res, 403, problem === 'SignatureDoesNotMatch' ? 'SignatureDoesNotMatch' : 'AccessDenied', problem);
    }
    if (payloadHash !== 'UNSIGNED-PAYLOAD' && payloadHash !== createHash('sha256').update(body).digest('hex')) {
      this.record(operation, key, 400);
      return this.error(res, 400, 'XAmzContentSHA256Mismatch', 'the body does not match x-amz-content-sha256');
    }
    const fault = this.faults.find((f) => f.operation === operation && f.remaining > 0 && (f.keyIncludes === undefined || key.includes(f.keyIncludes)));
    if (fault !== undefined) {
      if (fault.skip > 0) fault.skip--;
      else {
        fault.remaining--;
        this.record(operation, key, 599);
        if (fault.mode === 'drop') {
          req.socket.destroy();
          return;
        }
        return this.error(res, 500, 'InternalError', 'injected fault');
      }
    }
    if (this.writeLatencyMs > 0 && (operation === 'PutObject' || operation === 'UploadPart')) await new Promise((r) => setTimeout(r, this.writeLatencyMs));
    if (operation === 'CreateBucket') {
      this.createBucket(bucketName);
      this.record(operation, key, 200);
      res.writeHead(200).end();
      return;
    }
    const bucket = this.buckets.get(bucketName);
    if (bucket === undefined) {
      this.record(operation, key, 404);
      return this.error(res, 404, 'NoSuchBucket', `no bucket ${bucketName}`);
    }
    this.record(operation, key, 200);
    switch (operation) {
      case 'HeadBucket':
        res.writeHead(200).end();
        return;
      case 'ListObjectsV2':
        return this.listObjects(res, bucketName, bucket, query);
      case 'ListMultipartUploads':
        return this.listUploads(res, bucketName, query);
      case 'DeleteObjects': {
        const keys = [...body.toString('utf8').matchAll(/<Key>([^<]*)<\/Key>/g)].map((m) => m[1]!.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&amp;/g, '&'));
        for (const k of keys) bucket.delete(k);
        return this.xml(res, `<DeleteResult>${keys.map((k) => `<Deleted><Key>${xmlEscape(k)}</Key></Deleted>`).join('')}</DeleteResult>`);
      }
      case 'PutObject': {
        const etag = `"${createHash('md5').update(body).digest('hex')}"`;
        bucket.set(key, { file: this.newFile(body), size: body.length, etag, metadata: this.metadataOf(req), modified: new Date() });
        res.writeHead(200, { etag }).end();
        return;
      }
      case 'GetObject':
      case 'HeadObject': {
        const object = bucket.get(key);
        if (object === undefined) return this.error(res, 404, 'NoSuchKey', `no object ${key}`);
        const headers: Record<string, string | number> = { 'content-length': object.size, etag: object.etag, 'last-modified': object.modified.toUTCString(), 'content-type': 'application/octet-stream' };
        for (const [k, v] of Object.entries(object.metadata)) headers[`x-amz-meta-${k}`] = v;
        res.writeHead(200, headers);
        if (operation === 'HeadObject') {
          res.end();
          return;
        }
        createReadStream(object.file).pipe(res);
        return;
      }
      case 'DeleteObject':
        bucket.delete(key);
        res.writeHead(204).end();
        return;
      case 'CreateMultipartUpload': {
        const id = randomBytes(12).toString('hex');
        this.uploads.set(id, { key, bucket: bucketName, id, initiated: new Date(), metadata: this.metadataOf(req), parts: new Map() });
        return this.xml(res, `<InitiateMultipartUploadResult><Bucket>${xmlEscape(bucketName)}</Bucket><Key>${xmlEscape(key)}</Key><UploadId>${id}</UploadId></InitiateMultipartUploadResult>`);
      }
      case 'UploadPart': {
        const upload = this.uploads.get(query.get('uploadId') ?? '');
        if (upload === undefined || upload.key !== key) return this.error(res, 404, 'NoSuchUpload', 'no such upload');
        const n = Number(query.get('partNumber'));
        const etag = `"${createHash('md5').update(body).digest('hex')}"`;
        upload.parts.set(n, { file: this.newFile(body), size: body.length, etag });
        res.writeHead(200, { etag }).end();
        return;
      }
      case 'ListParts': {
        const upload = this.uploads.get(query.get('uploadId') ?? '');
        if (upload === undefined || upload.key !== key) return this.error(res, 404, 'NoSuchUpload', 'no such upload');
        const parts = [...upload.parts.entries()].sort((a, b) => a[0] - b[0]);
        return this.xml(res, `<ListPartsResult><Bucket>${xmlEscape(bucketName)}</Bucket><Key>${xmlEscape(key)}</Key><UploadId>${upload.id}</UploadId><IsTruncated>false</IsTruncated>${parts.map(([n, p]) => `<Part><PartNumber>${n}</PartNumber><ETag>${xmlEscape(p.etag)}</ETag><Size>${p.size}</Size></Part>`).join('')}</ListPartsResult>`);
      }
      case 'AbortMultipartUpload': {
        const id = query.get('uploadId') ?? '';
        const upload = this.uploads.get(id);
        if (upload === undefined) return this.error(res, 404, 'NoSuchUpload', 'no such upload');
        this.uploads.delete(id);
        for (const p of upload.parts.values()) rmSync(p.file, { force: true });
        res.writeHead(204).end();
        return;
      }
      case 'CompleteMultipartUpload': {
        const id = query.get('uploadId') ?? '';
        const upload = this.uploads.get(id);
        if (upload === undefined || upload.key !== key) return this.error(res, 404, 'NoSuchUpload', 'no such upload');
        const listed = [...body.toString('utf8').matchAll(/<Part>\s*(?:<ETag>([^<]*)<\/ETag>\s*<PartNumber>(\d+)<\/PartNumber>|<PartNumber>(\d+)<\/PartNumber>\s*<ETag>([^<]*)<\/ETag>)/g)].map((m) => ({ n: Number(m[2] ?? m[3]), etag: (m[1] ?? m[4]!).replace(/&quot;/g, '"') }));
        if (listed.length === 0) return this.error(res, 400, 'MalformedXML', 'no parts');
        const datas: Buffer[] = [];
        const md5s: Buffer[] = [];
        for (const [i, p] of listed.entries()) {
          const part = upload.parts.get(p.n);
          if (part === undefined || part.etag !== p.etag) return this.error(res, 400, 'InvalidPart', `part ${p.n}`);
          if (i > 0 && listed[i - 1]!.n >= p.n) return this.error(res, 400, 'InvalidPartOrder', 'parts out of order');
          if (i < listed.length - 1 && part.size < MIN_PART_BYTES) return this.error(res, 400, 'EntityTooSmall', `part ${p.n} of ${part.size} bytes`);
          const data = readFileSync(part.file);
          datas.push(data);
          md5s.push(createHash('md5').update(data).digest());
        }
        const all = Buffer.concat(datas);
        const etag = `"${createHash('md5').update(Buffer.concat(md5s)).digest('hex')}-${listed.length}"`;
        bucket.set(key, { file: this.newFile(all), size: all.length, etag, metadata: upload.metadata, modified: new Date() });
        for (const p of upload.parts.values()) rmSync(p.file, { force: true });
        this.uploads.delete(id);
        return this.xml(res, `<CompleteMultipartUploadResult><Bucket>${xmlEscape(bucketName)}</Bucket><Key>${xmlEscape(key)}</Key><ETag>${xmlEscape(etag)}</ETag></CompleteMultipartUploadResult>`);
      }
      default:
        return this.error(res, 501, 'NotImplemented', operation);
    }
  }

  private metadataOf(req: IncomingMessage): Record<string, string> {
    const metadata: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) if (k.startsWith('x-amz-meta-') && typeof v === 'string') metadata[k.slice('x-amz-meta-'.length)] = v;
    return metadata;
  }

  private listObjects(res: ServerResponse, bucketName: string, bucket: Map<string, StoredObject>, query: URLSearchParams): void {
    const prefix = query.get('prefix') ?? '';
    const delimiter = query.get('delimiter') ?? '';
    const maxKeys = Math.min(1000, Number(query.get('max-keys') ?? 1000));
    const after = query.get('continuation-token') ?? query.get('start-after') ?? '';
    const keys = [...bucket.keys()].filter((k) => k.startsWith(prefix) && k > after).sort();
    const contents: string[] = [];
    const prefixes = new Set<string>();
    let last = '';
    let truncated = false;
    for (const k of keys) {
      if (contents.length + prefixes.size >= maxKeys) {
        truncated = true;
        break;
      }
      last = k;
      if (delimiter !== '') {
        const cut = k.indexOf(delimiter, prefix.length);
        if (cut >= 0) {
          prefixes.add(k.slice(0, cut + delimiter.length));
          continue;
        }
      }
      const o = bucket.get(k)!;
      contents.push(`<Contents><Key>${xmlEscape(k)}</Key><LastModified>${o.modified.toISOString()}</LastModified><ETag>${xmlEscape(o.etag)}</ETag><Size>${o.size}</Size><StorageClass>STANDARD</StorageClass></Contents>`);
    }
    const common = [...prefixes].map((p) => `<CommonPrefixes><Prefix>${xmlEscape(p)}</Prefix></CommonPrefixes>`).join('');
    this.xml(
      res,
      `<ListBucketResult><Name>${xmlEscape(bucketName)}</Name><Prefix>${xmlEscape(prefix)}</Prefix><KeyCount>${contents.length + prefixes.size}</KeyCount><MaxKeys>${maxKeys}</MaxKeys><IsTruncated>${truncated}</IsTruncated>${truncated ? `<NextContinuationToken>${xmlEscape(last)}</NextContinuationToken>` : ''}${contents.join('')}${common}</ListBucketResult>`,
    );
  }

  private listUploads(res: ServerResponse, bucketName: string, query: URLSearchParams): void {
    const prefix = query.get('prefix') ?? '';
    const uploads = [...this.uploads.values()].filter((u) => u.bucket === bucketName && u.key.startsWith(prefix)).sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    this.xml(
      res,
      `<ListMultipartUploadsResult><Bucket>${xmlEscape(bucketName)}</Bucket><IsTruncated>false</IsTruncated>${uploads.map((u) => `<Upload><Key>${xmlEscape(u.key)}</Key><UploadId>${u.id}</UploadId><Initiated>${u.initiated.toISOString()}</Initiated></Upload>`).join('')}</ListMultipartUploadsResult>`,
    );
  }

  /** Bytes stored in objects (for the benchmark). */
  storedBytes(bucket: string): number {
    let total = 0;
    for (const o of this.buckets.get(bucket)?.values() ?? []) total += statSync(o.file).size;
    return total;
  }
}
