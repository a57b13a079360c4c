// The one way the codecs report bad bytes: a typed TSR_ERR_CORRUPT_SEGMENT
// error naming what broke. Decoders never let corrupt input surface as a
// RangeError or TypeError, which catch blocks treat as bugs.
import { TsraftError } from '../../errors.js';

export function corruptSegment(message: string, details: Record<string, unknown> = {}): TsraftError {
  return new TsraftError('TSR_ERR_CORRUPT_SEGMENT', message, { details });
}
