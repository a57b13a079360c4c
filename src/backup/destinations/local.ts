// A local directory as a backup destination (a mounted NAS works the same).
// Every object is written to `<key>.tmp-<pid>-<n>`, fsynced and renamed over
// its name, so a crash leaves the old object or the new one, never half of
// one; a stale temp file of an interrupted write is removed by
// abortIncompleteUploads (pruning runs it).
import { createReadStream, createWriteStream } from 'node:fs';
import { copyFile, mkdir, open, readdir, readFile, rename, rm, rmdir, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';
import { TsraftError, assert, rethrowIfBug } from '../../errors.js';
import { corruptBackup } from '../constants.js';
import type { Destination, ObjectInfo, StoredObject, WriteOptions } from './types.js';

const TEMP_MARK = '.tmp-';
/** Folders deeper than this are not walked (a backup is NAME/data/FILE). */
const MAX_DEPTH = 4;
export const DEFAULT_MAX_LISTED_OBJECTS = 10_000_000;

let tempCounter = 0;

function destinationError(root: string, key: string, error: unknown): TsraftError {
  const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
  return new TsraftError('TSR_ERR_DESTINATION', `backup destination ${root}: ${key === '' ? 'the directory' : key}: ${code}`, { cause: error, details: { destination: root, key, reason: code } });
}

export class LocalDestination implements Destination {
  readonly kind = 'local' as const;
  readonly url: string;
  readonly root: string;

  constructor(root: string) {
    this.root = resolve(root);
    this.url = this.root;
  }

  private pathOf(key: string): string {
    assert(!key.split('/').includes('..') && !key.startsWith('/'), `destination key ${key} escapes the root`);
    return join(this.root, ...key.split('/').filter((p) => p !== ''));
  }

  private async guard<T>(key: string, operation: () => Promise<T>): Promise<T> {
    try {
      return await operation();
    } catch (error) {
      rethrowIfBug(error);
      if (error instanceof TsraftError) throw error;
      throw destinationError(this.root, key, error);
    }
  }

  async list(prefix: string, maxObjects = DEFAULT_MAX_LISTED_OBJECTS): Promise<StoredObject[]> {
    const out: StoredObject[] = [];
    const walk = async (dir: string, relative: string, depth: number): Promise<void> => {
      let names: string[];
      try {
        names = await readdir(dir);
      } catch (error) {
        rethrowIfBug(error);
        if ((error as NodeJS.ErrnoException).code === 'ENOENT' || (error as NodeJS.ErrnoException).code === 'ENOTDIR') return;
        throw destinationError(this.root, relative, error);
      }
      for (const name of names.sort()) {
        const key = relative === '' ? name : `${relative}/${name}`;
        const info = await stat(join(dir, name));
        if (info.isDirectory()) {
          if (depth < MAX_DEPTH && (key.startsWith(prefix) || prefix.startsWith(key + '/'))) await walk(join(dir, name), key, depth + 1);
        } else if (key.startsWith(prefix)) {
          if (out.length >= maxObjects) throw new TsraftError('TSR_ERR_DESTINATION', `backup destination ${this.root} holds more than ${maxObjects} objects under ${prefix}`, { details: { destination: this.root, key: prefix, reason: 'too many objects' } });
          out.push({ key, bytes: info.size });
        }
      }
    };
    await walk(this.root, '', 0);
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async listFolders(): Promise<string[]> {
    return this.guard('', async () => {
      let names: string[];
      try {
        names = await readdir(this.root);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
        throw error;
      }
      const folders: string[] = [];
      for (const name of names) if ((await stat(join(this.root, name))).isDirectory()) folders.push(name);
      return folders.sort();
    });
  }

  async stat(key: string): Promise<ObjectInfo | null> {
    return this.guard(key, async () => {
      try {
        const info = await stat(this.pathOf(key));
        return info.isFile() ? { bytes: info.size, sha256: null } : null;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
        throw error;
      }
    });
  }

  async read(key: string, maxBytes: number): Promise<Uint8Array | null> {
    return this.guard(key, async () => {
      const path = this.pathOf(key);
      try {
        const size = (await stat(path)).size;
        if (size > maxBytes) throw corruptBackup(path, `object of ${size} bytes is larger than ${maxBytes}`);
        return new Uint8Array(await readFile(path));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
        throw error;
      }
    });
  }

  async download(key: string, path: string, onChunk?: (bytes: number) => Promise<void>): Promise<number> {
    return this.guard(key, async () => {
      await mkdir(dirname(path), { recursive: true });
      let size = 0;
      const meter = new Transform({
        transform(chunk: Buffer, _encoding, done) {
          size += chunk.length;
          if (onChunk === undefined) done(null, chunk);
          else onChunk(chunk.length).then(() => done(null, chunk), done);
        },
      });
      await pipeline(createReadStream(this.pathOf(key)), meter, createWriteStream(path));
      return size;
    });
  }

  private async replace(key: string, fill: (temp: string) => Promise<void>): Promise<void> {
    const target = this.pathOf(key);
    const temp = `${target}${TEMP_MARK}${process.pid}-${tempCounter++}`;
    await this.guard(key, async () => {
      await mkdir(dirname(target), { recursive: true });
      try {
        await fill(temp);
        const handle = await open(temp, 'r+');
        try {
          await handle.sync();
        } finally {
          await handle.close();
        }
        await rename(temp, target);
      } catch (error) {
        await rm(temp, { force: true });
        throw error;
      }
      const dir = await open(dirname(target), 'r');
      try {
        await dir.sync();
      } finally {
        await dir.close();
      }
    });
  }

  async write(key: string, bytes: Uint8Array, _options: WriteOptions): Promise<void> {
    await this.replace(key, async (temp) => {
      const handle = await open(temp, 'w');
      try {
        await handle.writeFile(bytes);
      } finally {
        await handle.close();
      }
    });
  }

  async upload(key: string, path: string, _options: WriteOptions): Promise<void> {
    await this.replace(key, (temp) => copyFile(path, temp));
  }

  async delete(keys: readonly string[]): Promise<void> {
    for (const key of keys) {
      await this.guard(key, () => rm(this.pathOf(key), { force: true }));
    }
    // Empty backup folders go too, so a pruned backup leaves nothing behind.
    const folders = new Set(keys.map((k) => k.split('/')[0]!).filter((f) => f !== ''));
    for (const folder of folders) await this.removeIfEmpty(this.pathOf(folder));
  }

  private async removeIfEmpty(dir: string): Promise<void> {
    try {
      for (const name of await readdir(dir)) {
        const path = join(dir, name);
        if ((await stat(path)).isDirectory()) await this.removeIfEmpty(path);
      }
      if ((await readdir(dir)).length === 0) await rmdir(dir);
    } catch (error) {
      rethrowIfBug(error);
      // Gone already, or not a folder: nothing to tidy.
    }
  }

  async abortIncompleteUploads(prefix: string, olderThanMs: number): Promise<number> {
    let removed = 0;
    const objects = await this.list(prefix);
    for (const o of objects) {
      if (!o.key.split('/').pop()!.includes(TEMP_MARK)) continue;
      const path = this.pathOf(o.key);
      const info = await stat(path).catch(() => null);
      if (info !== null && info.mtimeMs < olderThanMs) {
        await rm(path, { force: true });
        removed++;
      }
    }
    return removed;
  }

  async close(): Promise<void> {
    // Nothing to release.
  }
}

/** Whether `key` names a temp file of an unfinished write (never a backup file). */
export function isTempKey(key: string): boolean {
  return key.split('/').pop()!.includes(TEMP_MARK);
}

