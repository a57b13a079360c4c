// Small durable-file helpers shared by the backup commands.
import { open, rename } from 'node:fs/promises';
import { dirname } from 'node:path';

/** Write to a temp file, fsync, rename over, fsync the directory: a crash
 *  leaves the old file or the new one, never a mix. */
export async function writeFileAtomically(path: string, bytes: Uint8Array): Promise<void> {
  const temp = `${path}.tmp`;
  const handle = await open(temp, 'w');
  try {
    await handle.writeFile(bytes);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(temp, path);
  const dir = await open(dirname(path), 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}
