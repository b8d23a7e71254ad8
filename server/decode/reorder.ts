/**
 * bpftrace drains one buffer per CPU, so records arrive grouped by CPU, not in time order; under
 * load (or emulation) one CPU's batch can trail another's by seconds. Each CPU's own stream is in
 * order, though, so a record is released once every CPU that is still producing has passed its
 * time (a k-way merge watermark, less `SLACK_NS` for the rare nested probe on one CPU). A CPU that
 * went quiet cannot hold the rest back for longer than `windowNs`.
 *
 * Tie-break at equal kernel times: capture line order. Two records with the same nsecs on different
 * CPUs have no knowable order; line order at least makes every run give the same answer.
 */
import type { KernelEvent } from '../model/events.js';
import type { Nanos } from '../model/time.js';

export interface ReorderOptions {
  /** How far back in kernel time a record may arrive late and still be put in place. */
  windowNs: number;
  /** Most events held at once; past it the oldest are released early (memory stays bounded). */
  maxHeld: number;
}

export const DEFAULT_REORDER: ReorderOptions = { windowNs: 10_000_000_000, maxHeld: 200_000 };

/** Within one CPU, a probe interrupted by another can print a little out of order. */
const SLACK_NS = 1_000_000;

/** A CPU silent for this long is not the one whose buffer overflowed (see lossWindow). */
const ACTIVE_CPU_NS = 10_000_000_000;
/** How far past the newest record lost events may lie: bpftrace reads a loss notice right after the drop. */
const LOSS_TAIL_NS = 1_000_000_000;

export class Reorderer {
  private readonly heap: KernelEvent[] = [];
  private maxT = -Infinity;
  private lastReleased = -Infinity;
  private readonly lastByCpu = new Map<number, number>();
  /** The slowest CPU's latest time, and which CPU that is. */
  private minCpu = -1;
  private minT = -Infinity;
  late = 0;

  constructor(
    private readonly release: (ev: KernelEvent) => void,
    private readonly onLate: (ev: KernelEvent) => void,
    private readonly opts: ReorderOptions = DEFAULT_REORDER,
  ) {}

  push(ev: KernelEvent): void {
    if (ev.t > this.maxT) this.maxT = ev.t;
    const prev = this.lastByCpu.get(ev.cpu);
    if (prev === undefined || ev.t > prev) {
      this.lastByCpu.set(ev.cpu, ev.t);
      // Only the slowest CPU moving forward (or a new CPU) can move the watermark.
      if (prev === undefined || ev.cpu === this.minCpu) this.recomputeWatermark();
    }
    if (ev.t < this.lastReleased) {
      // Later than the window allows: keep it (never lose good data), but say so.
      this.late++;
      this.onLate(ev);
      this.release(ev);
      return;
    }
    this.insert(ev);
    const horizon = Math.max(this.minT - SLACK_NS, this.maxT - this.opts.windowNs);
    while (this.heap.length > 0 && (this.heap[0]!.t < horizon || this.heap.length > this.opts.maxHeld)) {
      this.emit(this.pop());
    }
  }

  /** Releases everything held (end of input). */
  flush(): void {
    while (this.heap.length > 0) this.emit(this.pop());
  }

  get held(): number {
    return this.heap.length;
  }

  /**
   * The kernel-time span in which events reported lost right now may have happened. The CPU whose
   * buffer overflowed lost them after its last record that arrived, so they are no older than the
   * earliest last record of the recently active CPUs; and bpftrace reads the notice soon after the
   * drop, so they are no newer than the newest record plus LOSS_TAIL_NS.
   */
  lossWindow(): { start: Nanos; end: Nanos } {
    if (this.maxT === -Infinity) return { start: -Infinity as Nanos, end: Infinity as Nanos };
    let start = this.maxT;
    for (const t of this.lastByCpu.values()) if (t < start && t >= this.maxT - ACTIVE_CPU_NS) start = t;
    return { start: (start - SLACK_NS) as Nanos, end: (this.maxT + LOSS_TAIL_NS) as Nanos };
  }

  private recomputeWatermark(): void {
    this.minT = Infinity;
    for (const [cpu, t] of this.lastByCpu) {
      if (t < this.minT) {
        this.minT = t;
        this.minCpu = cpu;
      }
    }
  }

  private emit(ev: KernelEvent): void {
    this.lastReleased = ev.t;
    this.release(ev);
  }

  private insert(ev: KernelEvent): void {
    const h = this.heap;
    let i = h.length;
    h.push(ev);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!before(ev, h[p]!)) break;
      h[i] = h[p]!;
      i = p;
    }
    h[i] = ev;
  }

  private pop(): KernelEvent {
    const h = this.heap;
    const top = h[0]!;
    const last = h.pop()!;
    const n = h.length;
    if (n > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const r = l + 1;
        const c = r < n && before(h[r]!, h[l]!) ? r : l;
        if (!before(h[c]!, last)) break;
        h[i] = h[c]!;
        i = c;
      }
      h[i] = last;
    }
    return top;
  }
}

function before(a: KernelEvent, b: KernelEvent): boolean {
  return a.t < b.t || (a.t === b.t && a.line < b.line);
}
