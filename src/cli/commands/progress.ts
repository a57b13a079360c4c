// A one-line progress bar on a terminal (stderr), redrawn at most 10 times a
// second; silent when stderr is not a terminal (logs stay clean).
import type { Writable } from 'node:stream';

const WIDTH = 30;
const REDRAW_MS = 100;

export function formatCount(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)}G`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (n >= 1e4) return `${(n / 1e3).toFixed(1)}k`;
  return String(Math.round(n));
}

export class ProgressBar {
  private lastDrawMs = 0;
  private drawn = false;

  constructor(
    private readonly out: Writable,
    private readonly enabled: boolean,
    private readonly nowMs: () => number = Date.now,
  ) {}

  /** `fraction` in [0, 1] or null when the total is unknown (stdin). */
  update(fraction: number | null, label: string, force = false): void {
    if (!this.enabled) return;
    const now = this.nowMs();
    if (!force && now - this.lastDrawMs < REDRAW_MS) return;
    this.lastDrawMs = now;
    let bar = '';
    if (fraction !== null) {
      const f = Math.min(1, Math.max(0, fraction));
      const filled = Math.round(f * WIDTH);
      bar = `[${'#'.repeat(filled)}${'.'.repeat(WIDTH - filled)}] ${(f * 100).toFixed(0).padStart(3)}% `;
    }
    this.out.write(`\r\u001b[2K${bar}${label}`);
    this.drawn = true;
  }

  /** Erases the bar (before printing a message or the summary). */
  clear(): void {
    if (this.enabled && this.drawn) this.out.write('\r\u001b[2K');
    this.drawn = false;
  }
}
