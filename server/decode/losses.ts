/**
 * Lost kernel events. bpftrace only says how many were dropped, not when or where; each report is
 * kept as a conservative time window (Reorderer.lossWindow) so that rules can tell whether a loss
 * could explain the ordering they saw.
 */
import type { Nanos } from '../model/time.js';

export interface LossWindow {
  start: Nanos;
  end: Nanos;
  count: number;
  /** Capture line of the lost_events record. */
  line: number;
  /** A gap: the probes were not running (count unknown, 0 here), and why. */
  reason?: string;
}

export class LossLedger {
  total = 0;
  reports = 0;
  /** Merged, sorted by start. Overlapping windows are merged, so the list stays short. */
  readonly windows: LossWindow[] = [];

  add(w: LossWindow): void {
    this.total += w.count;
    this.reports++;
    const last = this.windows[this.windows.length - 1];
    if (last !== undefined && w.start <= last.end) {
      last.end = Math.max(last.end, w.end) as Nanos;
      last.start = Math.min(last.start, w.start) as Nanos;
      last.count += w.count;
      if (w.reason !== undefined) last.reason = last.reason === undefined ? w.reason : `${last.reason}; ${w.reason}`;
      return;
    }
    this.windows.push({ ...w });
  }

  /** Events lost in windows overlapping [from, to]. */
  lostWithin(from: number, to: number): number {
    let n = 0;
    for (const w of this.windows) if (w.start <= to && w.end >= from) n += w.count;
    return n;
  }

  /** Why the probes were not running in windows overlapping [from, to] (gaps). */
  gapsWithin(from: number, to: number): string[] {
    return this.windows.filter((w) => w.reason !== undefined && w.start <= to && w.end >= from).map((w) => w.reason!);
  }
}
