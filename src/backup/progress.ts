// A one-line progress bar for the backup commands, drawn on a terminal only
// (stderr), at most ten times a second.
import { formatBytes } from './inspect.js';

const REDRAW_INTERVAL_MS = 100;
const BAR_WIDTH = 28;

export class ProgressBar {
  private lastDrawMs = 0;
  private readonly startedMs = Date.now();
  private drawn = false;

  constructor(
    private readonly stream: NodeJS.WriteStream,
    private readonly label: string,
  ) {}

  /** `done` of `total` bytes (total null: unknown). */
  update(done: number, total: number | null, note = '', force = false): void {
    const now = Date.now();
    if (!force && now - this.lastDrawMs < REDRAW_INTERVAL_MS) return;
    this.lastDrawMs = now;
    const seconds = Math.max(0.001, (now - this.startedMs) / 1000);
    const rate = `${formatBytes(done / seconds)}/s`;
    let bar: string;
    if (total !== null && total > 0) {
      const fraction = Math.min(1, done / total);
      const filled = Math.round(fraction * BAR_WIDTH);
      bar = `[${'#'.repeat(filled)}${'.'.repeat(BAR_WIDTH - filled)}] ${(fraction * 100).toFixed(0).padStart(3)}%`;
    } else {
      bar = `[${'?'.repeat(3)}]`;
    }
    const line = `${this.label} ${bar} ${formatBytes(done)} ${rate}${note === '' ? '' : ' ' + note}`;
    const width = this.stream.columns ?? 100;
    this.stream.write(`\r${line.slice(0, width - 1).padEnd(Math.min(width - 1, line.length + 2))}`);
    this.drawn = true;
  }

  finish(): void {
    if (this.drawn) this.stream.write('\n');
    this.drawn = false;
  }
}

/** A bar on stderr when it is a terminal, else null. */
export function terminalProgress(label: string, stream: NodeJS.WriteStream = process.stderr): ProgressBar | null {
  return stream.isTTY === true ? new ProgressBar(stream, label) : null;
}
