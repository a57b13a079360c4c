// Process exit codes of `tsraft serve` (docs/errors.md, "Exit codes").
// A supervisor can tell from the code alone whether restarting can help:
// 0 and 3–5 need an operator, 10–13 need the data directory looked at
// (a corrupt node is wiped and rejoins from its peers, docs/operations.md).
import { isTsraftError } from '../errors.js';

export const EXIT_CODES = {
  /** Stopped cleanly (SIGTERM, SIGINT or SIGHUP). */
  ok: 0,
  /** A bug: an assertion or an unexpected exception. The stack is in the log. */
  internal: 1,
  /** Bad command line. */
  usage: 2,
  /** The configuration file is invalid (TSR_ERR_INVALID_CONFIG). */
  config: 3,
  /** A listen address is in use or not available. */
  addressInUse: 4,
  /** The data directory is locked by another process (another node runs on it). */
  dataDirLocked: 5,
  /** Stored data failed a checksum or structure check (log, snapshot, applied state). */
  corruptData: 10,
  /** The data directory holds an unknown storage format version. */
  storageFormat: 11,
  /** The disk is full (ENOSPC) or over quota (EDQUOT). */
  diskFull: 12,
  /** Another I/O error on the data directory (EIO, EROFS, EACCES...). */
  ioError: 13,
} as const;

export type ExitCode = (typeof EXIT_CODES)[keyof typeof EXIT_CODES];

const CORRUPTION_CODES = new Set(['TSR_ERR_CORRUPT_LOG', 'TSR_ERR_CORRUPT_SNAPSHOT', 'TSR_ERR_CORRUPT_ENTRY', 'TSR_ERR_CORRUPT_SEGMENT', 'TSR_ERR_CORRUPT_STATE', 'TSR_ERR_UNSUPPORTED_ENTRY']);
const DISK_FULL_ERRNOS = new Set(['ENOSPC', 'EDQUOT']);
const IO_ERRNOS = new Set(['EIO', 'EROFS', 'EACCES', 'EPERM', 'ENOTDIR', 'EISDIR', 'EMFILE', 'ENFILE']);

/** The exit code a fatal error maps to. Looks through `cause` chains and
 *  LevelDB's wrapped errors (whose message carries the OS error text). */
export function exitCodeFor(error: unknown): ExitCode {
  for (let current: unknown = error, depth = 0; current !== undefined && current !== null && depth < 8; depth += 1) {
    if (isTsraftError(current)) {
      if (current.code === 'TSR_ERR_INVALID_CONFIG') return EXIT_CODES.config;
      if (CORRUPTION_CODES.has(current.code)) return EXIT_CODES.corruptData;
      if (current.code === 'TSR_ERR_STORAGE_FORMAT') return EXIT_CODES.storageFormat;
    }
    const code = (current as { code?: unknown }).code;
    const message = current instanceof Error ? current.message : '';
    if (code === 'EADDRINUSE' || code === 'EADDRNOTAVAIL') return EXIT_CODES.addressInUse;
    if (code === 'LEVEL_LOCKED' || /\bLOCK\b.*(?:temporarily unavailable|already held)|lock .* already held/i.test(message)) return EXIT_CODES.dataDirLocked;
    if ((typeof code === 'string' && DISK_FULL_ERRNOS.has(code)) || /No space left on device|ENOSPC|Disk quota exceeded/i.test(message)) return EXIT_CODES.diskFull;
    if (code === 'LEVEL_CORRUPTION' || /\bCorruption:/.test(message)) return EXIT_CODES.corruptData;
    if (code === 'LEVEL_IO_ERROR' || (typeof code === 'string' && IO_ERRNOS.has(code)) || /IO error/i.test(message)) return EXIT_CODES.ioError;
    current = (current as { cause?: unknown }).cause;
  }
  return EXIT_CODES.internal;
}
