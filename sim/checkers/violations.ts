// Where checkers report. A run stops collecting after a bound: the first
// violations are the interesting ones, the rest are usually consequences.
import type { CheckerName, Violation } from '../types.js';

export const MAX_VIOLATIONS = 20;

export class Violations {
  readonly list: Violation[] = [];
  dropped = 0;

  constructor(private readonly now: () => number) {}

  report(checker: CheckerName, message: string, details?: Record<string, unknown>): void {
    if (this.list.length >= MAX_VIOLATIONS) {
      this.dropped++;
      return;
    }
    this.list.push(details === undefined ? { checker, atMs: this.now(), message } : { checker, atMs: this.now(), message, details });
  }

  get any(): boolean {
    return this.list.length > 0;
  }
}
