// An S3-compatible bucket prefix as a backup destination, through
// @aws-sdk/client-s3 (docs/backup-service.md, "S3").
//
// - Endpoint, region and credentials come from the settings (node config
//   `backup.s3`, CLI flags) or else the standard AWS environment variables
//   (AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL, AWS_REGION / AWS_DEFAULT_REGION,
//   AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN, and the
//   rest of the SDK's default credential chain).
// - Every body is sent from memory with its SHA-256 as the signed payload
//   hash, so the server rejects a body altered on the way; the object's
//   SHA-256 is also kept as user metadata (x-amz-meta-sha256) so a retried
//   upload skips objects already stored whole.
// - Objects above multipartThresholdBytes go up in parts of partSizeBytes. An
//   interrupted multipart upload is never an object (S3 only shows it once
//   completed); the next upload of the same key resumes it when every part
//   already there matches the file (size and MD5 ETag), else aborts it and
//   starts over. abortIncompleteUploads() cleans up the ones nobody resumed.
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, open, stat as statFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  ListPartsCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { TsraftError, assert, rethrowIfBug } from '../../errors.js';
import { corruptBackup } from '../constants.js';
import type { Destination, ObjectInfo, StoredObject, WriteOptions } from './types.js';

const MiB = 1024 * 1024;
export const DEFAULT_PART_SIZE_BYTES = 16 * MiB;
export const DEFAULT_MULTIPART_THRESHOLD_BYTES = 16 * MiB;
/** S3's own bounds on a part (the last one may be smaller). */
export const MIN_PART_SIZE_BYTES = 5 * MiB;
export const MAX_PART_SIZE_BYTES = 5 * 1024 * MiB;
const MAX_PARTS = 10_000;
const DELETE_BATCH = 1000;
const DEFAULT_MAX_LISTED_OBJECTS = 10_000_000;

export interface S3Settings {
  /** http(s)://host:port of an S3-compatible server; null: AWS (or AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL). */
  endpoint: string | null;
  /** null: AWS_REGION / AWS_DEFAULT_REGION, else us-east-1. */
  region: string | null;
  /** Both null: the SDK's default credential chain (environment, profile, instance role). */
  accessKeyId: string | null;
  secretAccessKey: string | null;
  sessionToken: string | null;
  /** Path-style URLs (http://host/bucket/key); null: on when an endpoint is set (MinIO and most S3-compatible servers need it). */
  forcePathStyle: boolean | null;
  /** Part size of multipart uploads, bytes (5 MiB–5 GiB). Default 16 MiB. */
  partSizeBytes: number;
  /** Objects larger than this go up in parts, bytes (≥ 5 MiB). Default 16 MiB. */
  multipartThresholdBytes: number;
  /** Attempts per request (the SDK's retry with backoff). Default 3. */
  maxAttempts: number;
}

export const DEFAULT_S3_SETTINGS: Readonly<S3Settings> = Object.freeze({
  endpoint: null,
  region: null,
  accessKeyId: null,
  secretAccessKey: null,
  sessionToken: null,
  forcePathStyle: null,
  partSizeBytes: DEFAULT_PART_SIZE_BYTES,
  multipartThresholdBytes: DEFAULT_MULTIPART_THRESHOLD_BYTES,
  maxAttempts: 3,
});

/** s3://bucket/prefix → its parts; null when `url` is not an s3:// URL. */
export function parseS3Url(url: string): { bucket: string; prefix: string } | null {
  const match = /^s3:\/\/([^/]+)(?:\/(.*))?$/.exec(url);
  if (match === null) return null;
  const bucket = match[1]!;
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) {
    throw new TsraftError('TSR_ERR_INVALID_ARGUMENT', `${url}: ${JSON.stringify(bucket)} is not a valid S3 bucket name (3–63 lowercase letters, digits, . and -)`, { details: { field: 'destination' } });
  }
  const prefix = (match[2] ?? '').replace(/\/+$/, '');
  if (prefix.split('/').some((p) => p === '' || p === '.' || p === '..') && prefix !== '') {
    throw new TsraftError('TSR_ERR_INVALID_ARGUMENT', `${url}: the key prefix must be /-separated names without empty, . or .. parts`, { details: { field: 'destination' } });
  }
  return { bucket, prefix };
}

interface SdkError {
  name?: string;
  code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
}

function isNotFound(error: unknown): boolean {
  const e = error as SdkError;
  return e.name === 'NoSuchKey' || e.name === 'NotFound' || e.name === 'NoSuchUpload' || e.$metadata?.httpStatusCode === 404;
}

function isNotImplemented(error: unknown): boolean {
  const e = error as SdkError;
  return e.name === 'NotImplemented' || e.name === 'MethodNotAllowed' || e.$metadata?.httpStatusCode === 501 || e.$metadata?.httpStatusCode === 405;
}

export class S3Destination implements Destination {
  readonly kind = 's3' as const;
  readonly url: string;
  readonly bucket: string;
  readonly prefix: string;
  private readonly client: S3Client;
  private readonly settings: S3Settings;
  /** Requests of each kind sent (tests and the benchmark read it). */
  readonly requests = new Map<string, number>();

  constructor(url: string, settings: Partial<S3Settings> = {}) {
    const parsed = parseS3Url(url);
    assert(parsed !== null, `S3Destination: ${url} is not an s3:// URL`);
    this.bucket = parsed.bucket;
    this.prefix = parsed.prefix;
    this.url = `s3://${this.bucket}${this.prefix === '' ? '' : '/' + this.prefix}`;
    this.settings = { ...DEFAULT_S3_SETTINGS, ...settings };
    const s = this.settings;
    assert(s.partSizeBytes >= MIN_PART_SIZE_BYTES && s.partSizeBytes <= MAX_PART_SIZE_BYTES, `S3 part size ${s.partSizeBytes} outside [5 MiB, 5 GiB]`);
    assert(s.multipartThresholdBytes >= MIN_PART_SIZE_BYTES, `S3 multipart threshold ${s.multipartThresholdBytes} below 5 MiB`);
    // This SDK warns once per process on Node 20; the warning is about its future releases, not this build.
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
    const endpoint = s.endpoint ?? process.env.AWS_ENDPOINT_URL_S3 ?? process.env.AWS_ENDPOINT_URL ?? null;
    const config: S3ClientConfig = {
      region: s.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1',
      forcePathStyle: s.forcePathStyle ?? endpoint !== null,
      maxAttempts: s.maxAttempts,
      // Bodies are buffers with a signed SHA-256; no extra streamed trailers.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      requestHandler: { connectionTimeout: 10_000, requestTimeout: 300_000 },
    };
    if (endpoint !== null) config.endpoint = endpoint;
    if (s.accessKeyId !== null && s.secretAccessKey !== null) {
      config.credentials = { accessKeyId: s.accessKeyId, secretAccessKey: s.secretAccessKey, ...(s.sessionToken === null ? {} : { sessionToken: s.sessionToken }) };
    }
    this.client = new S3Client(config);
  }

  private fullKey(key: string): string {
    assert(!key.startsWith('/') && !key.split('/').includes('..'), `destination key ${key} escapes the prefix`);
    return this.prefix === '' ? key : `${this.prefix}/${key}`;
  }

  private relativeKey(fullKey: string): string {
    return this.prefix === '' ? fullKey : fullKey.slice(this.prefix.length + 1);
  }

  private count(kind: string): void {
    this.requests.set(kind, (this.requests.get(kind) ?? 0) + 1);
  }

  private fail(key: string, error: unknown): TsraftError {
    rethrowIfBug(error);
    if (error instanceof TsraftError) return error;
    const e = error as SdkError;
    const reason = `${e.name ?? e.code ?? 'Error'}${e.$metadata?.httpStatusCode === undefined ? '' : ` (HTTP ${e.$metadata.httpStatusCode})`}: ${e.message ?? ''}`.trim();
    return new TsraftError('TSR_ERR_DESTINATION', `backup destination ${this.url}: ${key === '' ? 'the bucket' : key}: ${reason}`, { cause: error, details: { destination: this.url, key, reason } });
  }

  async list(prefix: string, maxObjects = DEFAULT_MAX_LISTED_OBJECTS): Promise<StoredObject[]> {
    const out: StoredObject[] = [];
    let token: string | undefined;
    do {
      this.count('ListObjectsV2');
      let page;
      try {
        page = await this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: this.fullKey(prefix) === '' ? undefined : this.fullKey(prefix), ContinuationToken: token }));
      } catch (error) {
        throw this.fail(prefix, error);
      }
      for (const o of page.Contents ?? []) {
        if (o.Key === undefined) continue;
        if (this.prefix !== '' && !o.Key.startsWith(this.prefix + '/')) continue;
        if (out.length >= maxObjects) throw new TsraftError('TSR_ERR_DESTINATION', `backup destination ${this.url} holds more than ${maxObjects} objects under ${prefix}`, { details: { destination: this.url, key: prefix, reason: 'too many objects' } });
        out.push({ key: this.relativeKey(o.Key), bytes: o.Size ?? 0 });
      }
      token = page.IsTruncated === true ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async listFolders(): Promise<string[]> {
    const folders = new Set<string>();
    let token: string | undefined;
    do {
      this.count('ListObjectsV2');
      let page;
      try {
        page = await this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: this.prefix === '' ? undefined : this.prefix + '/', Delimiter: '/', ContinuationToken: token }));
      } catch (error) {
        throw this.fail('', error);
      }
      for (const p of page.CommonPrefixes ?? []) {
        if (p.Prefix === undefined) continue;
        const name = this.relativeKey(p.Prefix).replace(/\/$/, '');
        if (name !== '' && !name.includes('/')) folders.add(name);
      }
      token = page.IsTruncated === true ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
    return [...folders].sort();
  }

  async stat(key: string): Promise<ObjectInfo | null> {
    this.count('HeadObject');
    try {
      const head = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.fullKey(key) }));
      const sha = head.Metadata?.sha256;
      return { bytes: head.ContentLength ?? 0, sha256: typeof sha === 'string' && /^[0-9a-f]{64}$/.test(sha) ? sha : null };
    } catch (error) {
      if (isNotFound(error)) return null;
      throw this.fail(key, error);
    }
  }

  private async getBody(key: string): Promise<{ body: Readable; bytes: number } | null> {
    this.count('GetObject');
    try {
      const got = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.fullKey(key) }));
      assert(got.Body !== undefined, 'GetObject without a body');
      return { body: got.Body as Readable, bytes: got.ContentLength ?? -1 };
    } catch (error) {
      if (isNotFound(error)) return null;
      throw this.fail(key, error);
    }
  }

  async read(key: string, maxBytes: number): Promise<Uint8Array | null> {
    const got = await this.getBody(key);
    if (got === null) return null;
    if (got.bytes > maxBytes) {
      got.body.destroy();
      throw corruptBackup(`${this.url}/${key}`, `object of ${got.bytes} bytes is larger than ${maxBytes}`);
    }
    const chunks: Buffer[] = [];
    let size = 0;
    try {
      for await (const chunk of got.body) {
        size += (chunk as Buffer).length;
        if (size > maxBytes) {
          got.body.destroy();
          throw corruptBackup(`${this.url}/${key}`, `object is larger than ${maxBytes} bytes`);
        }
        chunks.push(chunk as Buffer);
      }
    } catch (error) {
      throw this.fail(key, error);
    }
    const all = Buffer.concat(chunks);
    return new Uint8Array(all.buffer, all.byteOffset, all.byteLength);
  }

  async download(key: string, path: string, onChunk?: (bytes: number) => Promise<void>): Promise<number> {
    const got = await this.getBody(key);
    if (got === null) throw new TsraftError('TSR_ERR_DESTINATION', `backup destination ${this.url}: ${key}: the object does not exist`, { details: { destination: this.url, key, reason: 'NoSuchKey' } });
    await mkdir(dirname(path), { recursive: true });
    let size = 0;
    const meter = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        size += chunk.length;
        if (onChunk === undefined) done(null, chunk);
        else onChunk(chunk.length).then(() => done(null, chunk), done);
      },
    });
    try {
      await pipeline(got.body, meter, createWriteStream(path));
    } catch (error) {
      throw this.fail(key, error);
    }
    return size;
  }

  async write(key: string, bytes: Uint8Array, options: WriteOptions): Promise<void> {
    if (bytes.length > this.settings.multipartThresholdBytes) {
      const partSize = this.partSizeFor(bytes.length);
      await this.uploadMultipart(key, bytes.length, options, async (n) => {
        const from = (n - 1) * partSize;
        return Buffer.from(bytes.buffer, bytes.byteOffset + from, Math.min(partSize, bytes.length - from));
      });
      return;
    }
    this.count('PutObject');
    try {
      await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: this.fullKey(key), Body: bytes, ContentLength: bytes.length, Metadata: { sha256: options.sha256 } }));
    } catch (error) {
      throw this.fail(key, error);
    }
  }

  async upload(key: string, path: string, options: WriteOptions): Promise<void> {
    const size = (await statFile(path)).size;
    const handle = await open(path, 'r');
    try {
      if (size <= this.settings.multipartThresholdBytes) {
        await this.write(key, await handle.readFile(), options);
        return;
      }
      const partSize = this.partSizeFor(size);
      await this.uploadMultipart(key, size, options, async (n) => {
        const length = Math.min(partSize, size - (n - 1) * partSize);
        const buffer = Buffer.alloc(length);
        const { bytesRead } = await handle.read(buffer, 0, length, (n - 1) * partSize);
        assert(bytesRead === length, `short read of part ${n} of ${path}`);
        return buffer;
      });
    } finally {
      await handle.close();
    }
  }

  /** The part size for an object: the setting, grown when 10,000 parts would not hold it. */
  partSizeFor(size: number): number {
    let part = this.settings.partSizeBytes;
    while (Math.ceil(size / part) > MAX_PARTS) part *= 2;
    return part;
  }

  private async uploadMultipart(key: string, size: number, options: WriteOptions, readPart: (n: number) => Promise<Buffer>): Promise<void> {
    const fullKey = this.fullKey(key);
    const partSize = this.partSizeFor(size);
    const partCount = Math.ceil(size / partSize);
    const resumed = await this.findResumable(key, partSize, partCount, readPart);
    let uploadId = resumed?.uploadId ?? null;
    const etags = resumed?.etags ?? new Map<number, string>();
    if (uploadId === null) {
      this.count('CreateMultipartUpload');
      try {
        const created = await this.client.send(new CreateMultipartUploadCommand({ Bucket: this.bucket, Key: fullKey, Metadata: { sha256: options.sha256 } }));
        uploadId = created.UploadId ?? null;
      } catch (error) {
        throw this.fail(key, error);
      }
      if (uploadId === null) throw this.fail(key, new Error('CreateMultipartUpload returned no UploadId'));
    }
    for (let n = 1; n <= partCount; n++) {
      if (etags.has(n)) continue;
      const body = await readPart(n);
      this.count('UploadPart');
      try {
        const part = await this.client.send(new UploadPartCommand({ Bucket: this.bucket, Key: fullKey, UploadId: uploadId, PartNumber: n, Body: body, ContentLength: body.length }));
        etags.set(n, part.ETag ?? '');
      } catch (error) {
        // Left for the next attempt to resume (or for abortIncompleteUploads to clean up).
        throw this.fail(key, error);
      }
    }
    this.count('CompleteMultipartUpload');
    try {
      await this.client.send(
        new CompleteMultipartUploadCommand({
          Bucket: this.bucket,
          Key: fullKey,
          UploadId: uploadId,
          MultipartUpload: { Parts: [...etags.entries()].sort((a, b) => a[0] - b[0]).map(([PartNumber, ETag]) => ({ PartNumber, ETag })) },
        }),
      );
    } catch (error) {
      throw this.fail(key, error);
    }
    const info = await this.stat(key);
    if (info === null || info.bytes !== size) throw this.fail(key, new Error(`the completed upload holds ${info?.bytes ?? 0} bytes, not ${size}`));
  }

  /** An unfinished upload of `key` whose parts all match the file, with their ETags;
   *  uploads that do not match are aborted. Null when there is none to resume. */
  private async findResumable(key: string, partSize: number, partCount: number, readPart: (n: number) => Promise<Buffer>): Promise<{ uploadId: string; etags: Map<number, string> } | null> {
    const fullKey = this.fullKey(key);
    let uploads;
    this.count('ListMultipartUploads');
    try {
      uploads = (await this.client.send(new ListMultipartUploadsCommand({ Bucket: this.bucket, Prefix: fullKey }))).Uploads ?? [];
    } catch (error) {
      // Some S3-compatible servers do not list uploads: then nothing is resumed.
      if (isNotImplemented(error)) return null;
      throw this.fail(key, error);
    }
    const mine = uploads.filter((u) => u.Key === fullKey && u.UploadId !== undefined).sort((a, b) => (b.Initiated?.getTime() ?? 0) - (a.Initiated?.getTime() ?? 0));
    let chosen: { uploadId: string; etags: Map<number, string> } | null = null;
    for (const upload of mine) {
      const uploadId = upload.UploadId!;
      if (chosen === null) {
        const etags = await this.matchingParts(key, uploadId, partSize, partCount, readPart);
        if (etags !== null) {
          chosen = { uploadId, etags };
          continue;
        }
      }
      await this.abort(key, uploadId);
    }
    return chosen;
  }

  private async matchingParts(key: string, uploadId: string, partSize: number, partCount: number, readPart: (n: number) => Promise<Buffer>): Promise<Map<number, string> | null> {
    const etags = new Map<number, string>();
    let marker: string | undefined;
    do {
      this.count('ListParts');
      let page;
      try {
        page = await this.client.send(new ListPartsCommand({ Bucket: this.bucket, Key: this.fullKey(key), UploadId: uploadId, PartNumberMarker: marker }));
      } catch (error) {
        if (isNotFound(error) || isNotImplemented(error)) return null;
        throw this.fail(key, error);
      }
      for (const part of page.Parts ?? []) {
        const n = part.PartNumber ?? 0;
        if (n < 1 || n > partCount) return null;
        const expectedSize = n < partCount ? partSize : -1;
        if (expectedSize !== -1 && part.Size !== expectedSize) return null;
        const local = await readPart(n);
        if (part.Size !== local.length) return null;
        const md5 = createHash('md5').update(local).digest('hex');
        if ((part.ETag ?? '').replace(/"/g, '') !== md5) return null;
        etags.set(n, part.ETag!);
      }
      marker = page.IsTruncated === true ? page.NextPartNumberMarker : undefined;
    } while (marker !== undefined);
    return etags;
  }

  private async abort(key: string, uploadId: string): Promise<void> {
    this.count('AbortMultipartUpload');
    try {
      await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: this.fullKey(key), UploadId: uploadId }));
    } catch (error) {
      if (isNotFound(error) || isNotImplemented(error)) return;
      throw this.fail(key, error);
    }
  }

  async delete(keys: readonly string[]): Promise<void> {
    for (let i = 0; i < keys.length; i += DELETE_BATCH) {
      const batch = keys.slice(i, i + DELETE_BATCH);
      this.count('DeleteObjects');
      let answer;
      try {
        answer = await this.client.send(new DeleteObjectsCommand({ Bucket: this.bucket, Delete: { Objects: batch.map((k) => ({ Key: this.fullKey(k) })), Quiet: true } }));
      } catch (error) {
        throw this.fail(batch[0]!, error);
      }
      const failed = (answer.Errors ?? []).filter((e) => e.Code !== 'NoSuchKey');
      if (failed.length > 0) throw this.fail(this.relativeKey(failed[0]!.Key ?? ''), new Error(`${failed.length} object(s) were not deleted: ${failed[0]!.Code} ${failed[0]!.Message ?? ''}`));
    }
  }

  async abortIncompleteUploads(prefix: string, olderThanMs: number): Promise<number> {
    let aborted = 0;
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    do {
      this.count('ListMultipartUploads');
      let page;
      try {
        page = await this.client.send(new ListMultipartUploadsCommand({ Bucket: this.bucket, Prefix: this.fullKey(prefix) === '' ? undefined : this.fullKey(prefix), KeyMarker: keyMarker, UploadIdMarker: uploadIdMarker }));
      } catch (error) {
        if (isNotImplemented(error)) return 0;
        throw this.fail(prefix, error);
      }
      for (const u of page.Uploads ?? []) {
        if (u.Key === undefined || u.UploadId === undefined) continue;
        if ((u.Initiated?.getTime() ?? 0) >= olderThanMs) continue;
        await this.abort(this.relativeKey(u.Key), u.UploadId);
        aborted++;
      }
      const more = page.IsTruncated === true;
      keyMarker = more ? page.NextKeyMarker : undefined;
      uploadIdMarker = more ? page.NextUploadIdMarker : undefined;
    } while (keyMarker !== undefined);
    return aborted;
  }

  async close(): Promise<void> {
    this.client.destroy();
  }
}
