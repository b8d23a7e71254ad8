/**
 * bpftrace drains one buffer per CPU, so records arrive grouped by CPU, not in time order. The
 * reorderer holds events in a min-heap and releases each one once the newest time seen is more
 * than `windowNs` past it.
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

export const DEFAULT_REORDER: ReorderOptions = { windowNs: 250_000_000, maxHeld: 200_000 };

/** A CPU silent for this long is not the one whose buffer overflowed (see lossWindow). */
const ACTIVE_CPU_NS = 10_000_000_000;

export class Reorderer {
  private readonly heap: KernelEvent[] = [];
  private maxT = -Infinity;
  private lastReleased = -Infinity;
  private readonly lastByCpu = new Map<number, number>();
  late = 0;

  constructor(
    private readonly release: (ev: KernelEvent) => void,
    private readonly onLate: (ev: KernelEvent) => void,
    private readonly opts: ReorderOptions = DEFAULT_REORDER,
  ) {}

  push(ev: KernelEvent): void {
    if (ev.t > this.maxT) this.maxT = ev.t;
    this.lastByCpu.set(ev.cpu, ev.t);
    if (ev.t < this.lastReleased) {
      // Later than the window allows: keep it (never lose good data), but say so.
      this.late++;
      this.onLate(ev);
      this.release(ev);
      return;
    }
    this.insert(ev);
    const horizon = this.maxT - this.opts.windowNs;
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
   * The kernel-time span in which events reported lost right now may have happened: from the last
   * record of the earliest recently active CPU to the newest time seen plus the window (records
   * still in flight may be older than what arrived).
   */
  lossWindow(): { start: Nanos; end: Nanos } {
    if (this.maxT === -Infinity) return { start: -Infinity as Nanos, end: Infinity as Nanos };
    let start = this.maxT;
    for (const t of this.lastByCpu.values()) if (t < start && t >= this.maxT - ACTIVE_CPU_NS) start = t;
    return { start: (start - this.opts.windowNs) as Nanos, end: (this.maxT + this.opts.windowNs) as Nanos };
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
