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
import type { RecordEvent } from '../model/events.js';
import type { Nanos } from '../model/time.js';

export interface ReorderOptions {
  /**
   * How many CPUs can report (the capture header's `cpus`). Until each has been heard from, a CPU
   * yet unseen may still hold older records, so only the time window releases records.
   */
  cpus?: number;
  /** How far back in kernel time a record may arrive late and still be put in place. */
  windowNs: number;
  /** Most events held at once; past it the oldest are released early (memory stays bounded). */
  maxHeld: number;
  /** The starting slack (default SLACK_NS). */
  slackNs?: number;
  /**
   * Whether the capture header's declared deferral (deferred_ms) raises the slack up front (the
   * default). A live view does without: the slack still grows when deferred records are seen.
   */
  declaredDeferral?: boolean;
}

export const DEFAULT_REORDER: ReorderOptions = { windowNs: 10_000_000_000, maxHeld: 200_000 };

/**
 * Within one CPU records can be out of order: a probe interrupted by another, and records printed
 * late on purpose with their original time (a readdir walk or an epoll_ctl printed at its return,
 * stamped with its entry time). The slack starts at SLACK_NS (or what the capture header declares),
 * and grows to twice the longest such deferral seen, up to MAX_SLACK_NS. Held records cost memory
 * and time: at a million events a second, 10 ms is 10k of them, which still fit in a core's cache
 * when they are read back. Nested probes put records out of order by microseconds, and deferrals
 * are declared, so 10 ms is plenty to begin with; the slack grows at the first sign of more.
 */
const SLACK_NS = 10_000_000;
const MAX_SLACK_NS = 2_000_000_000;
/** The reorder window grows up to this when records come later than it (a live view starts smaller). */
const MAX_WINDOW_NS = 10_000_000_000;

/** A CPU silent for this long is not the one whose buffer overflowed (see lossWindow). */
const ACTIVE_CPU_NS = 10_000_000_000;
/** How far past the newest record lost events may lie: bpftrace reads a loss notice right after the drop. */
const LOSS_TAIL_NS = 1_000_000_000;

/**
 * How far back (in held records) an arriving record is walked into place in its CPU's ring. Nested
 * probes put a record a few places back; one that belongs further back (a deferred record behind a
 * long walk, or a hostile capture whose times run backwards: each insertion then walked the whole
 * queue, quadratic in the records held) goes to the queue's side heap instead, in O(log n).
 */
export const MAX_WALK = 32;

/** A record that came too far out of order for the ring (CpuQueue's side heap). */
interface Stray {
  ev: RecordEvent | undefined;
  handle: number;
  t: number;
  line: number;
}

const before = (t: number, line: number, t2: number, line2: number): boolean => t < t2 || (t === t2 && line < line2);

/**
 * One CPU's records, in time order: a ring buffer (held records are many, so no array is copied as
 * the head moves), with an insertion step for the rare nested probe, and a side heap for the records
 * that belong further back than MAX_WALK. The sort keys sit in typed arrays beside the events: the
 * merge compares plain numbers and never loads a property from events of forty different shapes.
 */
class CpuQueue {
  private items: (RecordEvent | undefined)[] = new Array<RecordEvent | undefined>(256).fill(undefined);
  /** Sort keys (time, line) by slot. */
  private ts = new Float64Array(256);
  private lines = new Float64Array(256);
  /** Per slot: a held record's handle (pushHeld), or -1 when the slot holds an event. */
  private handles = new Int32Array(256);
  private mask = 255;
  private head = 0;
  private ringSize = 0;
  /** Min-heap by (t, line); almost always empty. */
  private readonly strays: Stray[] = [];
  /** Records held (ring and heap). */
  size = 0;
  /** The first record's keys, when size > 0 (plain double fields: read per merge step). */
  headT = 0;
  headLine = 0;
  /** The handle of the record shift() last returned (-1: it was an event). */
  shiftedHandle = -1;

  /** Takes the first record: its event (undefined for a held record: its handle is shiftedHandle). */
  shift(): RecordEvent | undefined {
    let ev: RecordEvent | undefined;
    const strays = this.strays;
    if (strays.length > 0 && (this.ringSize === 0 || before(strays[0]!.t, strays[0]!.line, this.ts[this.head]!, this.lines[this.head]!))) {
      const s = popStray(strays);
      ev = s.ev;
      this.shiftedHandle = s.handle;
    } else {
      const h = this.head;
      ev = this.items[h];
      this.shiftedHandle = this.handles[h]!;
      this.items[h] = undefined;
      this.head = (h + 1) & this.mask;
      this.ringSize--;
    }
    this.size--;
    this.findHead();
    return ev;
  }

  push(ev: RecordEvent | undefined, handle: number, t: number, line: number): void {
    const n = this.ringSize;
    if (n > MAX_WALK) {
      const far = (this.head + n - MAX_WALK) & this.mask;
      if (before(t, line, this.ts[far]!, this.lines[far]!)) {
        pushStray(this.strays, { ev, handle, t, line });
        this.size++;
        if (before(t, line, this.headT, this.headLine)) this.findHead();
        return;
      }
    }
    if (n > this.mask) this.grow();
    const { items, ts, lines, handles, mask } = this;
    // Walk back from the tail past later records (almost always none, at most MAX_WALK), moving them up one slot.
    let i = (this.head + n) & mask;
    for (let k = n; k > 0; k--) {
      const p = (i - 1) & mask;
      if (!before(t, line, ts[p]!, lines[p]!)) break;
      items[i] = items[p];
      ts[i] = ts[p]!;
      lines[i] = lines[p]!;
      handles[i] = handles[p]!;
      i = p;
    }
    items[i] = ev;
    ts[i] = t;
    lines[i] = line;
    handles[i] = handle;
    this.ringSize++;
    this.size++;
    if (this.size === 1 || before(t, line, this.headT, this.headLine)) {
      this.headT = t;
      this.headLine = line;
    }
  }

  private findHead(): void {
    const strays = this.strays;
    if (this.ringSize > 0) {
      this.headT = this.ts[this.head]!;
      this.headLine = this.lines[this.head]!;
      if (strays.length > 0 && before(strays[0]!.t, strays[0]!.line, this.headT, this.headLine)) {
        this.headT = strays[0]!.t;
        this.headLine = strays[0]!.line;
      }
    } else if (strays.length > 0) {
      this.headT = strays[0]!.t;
      this.headLine = strays[0]!.line;
    }
  }

  private grow(): void {
    const cap = (this.mask + 1) * 2;
    const items = new Array<RecordEvent | undefined>(cap).fill(undefined);
    const ts = new Float64Array(cap);
    const lines = new Float64Array(cap);
    const handles = new Int32Array(cap);
    for (let k = 0; k < this.ringSize; k++) {
      const j = (this.head + k) & this.mask;
      items[k] = this.items[j];
      ts[k] = this.ts[j]!;
      lines[k] = this.lines[j]!;
      handles[k] = this.handles[j]!;
    }
    this.items = items;
    this.ts = ts;
    this.lines = lines;
    this.handles = handles;
    this.mask = cap - 1;
    this.head = 0;
  }
}

function pushStray(h: Stray[], s: Stray): void {
  let i = h.length;
  h.push(s);
  while (i > 0) {
    const p = (i - 1) >> 1;
    if (!before(s.t, s.line, h[p]!.t, h[p]!.line)) break;
    h[i] = h[p]!;
    i = p;
  }
  h[i] = s;
}

function popStray(h: Stray[]): Stray {
  const top = h[0]!;
  const last = h.pop()!;
  if (h.length > 0) {
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= h.length) break;
      const r = l + 1;
      const c = r < h.length && before(h[r]!.t, h[r]!.line, h[l]!.t, h[l]!.line) ? r : l;
      if (!before(h[c]!.t, h[c]!.line, last.t, last.line)) break;
      h[i] = h[c]!;
      i = c;
    }
    h[i] = last;
  }
  return top;
}

const noHeld = (): never => {
  throw new Error('Reorderer: pushHeld without releaseHeld and heldKind');
};

/**
 * CPU numbers are small integers: per-CPU state lives in arrays indexed by CPU (no hashing), and the
 * merge scans the CPUs heard from. A record of a CPU number at or past MAX_CPUS (or negative) cannot
 * come from a real machine's buffers: it is released at once, in arrival order, and told to `onBadCpu`.
 * (Records spread over 65,536 CPU numbers made one analysis take minutes: the scans are per record.)
 */
export const MAX_CPUS = 1024;

export class Reorderer {
  private readonly queues: (CpuQueue | undefined)[] = [];
  private readonly queueList: CpuQueue[] = [];
  private heldCount = 0;
  private maxT = -Infinity;
  private lastReleased = -Infinity;
  /** How far behind the newest record a record has arrived (any CPU), at most the window. */
  private maxLag = 0;
  /** Latest time per CPU (NaN: not seen), and the CPUs seen. */
  private readonly lastByCpu: number[] = [];
  private readonly cpusSeen: number[] = [];
  private slack = SLACK_NS;
  /** The slowest CPU's latest time, and which CPU that is. */
  private minCpu = -1;
  private minT = -Infinity;
  /**
   * A lower bound on the earliest held time (exact right after a scan; releases only raise the
   * true value). While the horizon is not past it, a push needs no scan of the queues.
   */
  private lowHead = Infinity;
  late = 0;
  /** Records after this time are held whatever comes (see `holdAfter`). */
  private until = Infinity;

  private readonly opts: ReorderOptions;

  constructor(
    /** Called with each record in order, and its time. */
    private readonly release: (ev: RecordEvent, t: number) => void,
    /** A record came after later ones were released (it is released at once all the same): its kind and line. */
    private readonly onLate: (kind: RecordEvent['kind'], line: number) => void,
    opts: ReorderOptions = DEFAULT_REORDER,
    /** Called instead of `release` with each held record (pushHeld) in its turn. */
    private readonly releaseHeld: (handle: number, t: number) => void = noHeld,
    /** The event kind of a held record. */
    private readonly heldKind: (handle: number) => RecordEvent['kind'] = noHeld,
    /** A record's CPU number is out of range (see MAX_CPUS): its kind, line and CPU. It is released at once. */
    private readonly onBadCpu: (kind: RecordEvent['kind'], line: number, cpu: number) => void = () => {},
  ) {
    this.opts = { ...opts };
    this.slack = opts.slackNs ?? SLACK_NS;
  }

  /** The newest kernel time seen so far (-Infinity before any record). */
  get newest(): number {
    return this.maxT;
  }

  /** The number of CPUs that can report, once known (from the capture header). */
  expectCpus(n: number): void {
    this.opts.cpus = n;
  }

  /** Records may be printed this late on purpose (the capture header's `deferred_ms`). */
  expectDeferral(ns: number): void {
    if (this.opts.declaredDeferral === false) return;
    this.slack = Math.min(MAX_SLACK_NS, Math.max(this.slack, ns));
  }

  push(ev: RecordEvent): void {
    // Each property read of an event is megamorphic (forty shapes), and one of a double field
    // allocates a fresh number: read the time once.
    const t: number = ev.t;
    this.add(ev, -1, t, ev.cpu, ev.line);
  }

  /**
   * A record not built (held as values, see packed/held.ts): its handle, time, CPU and line. The same
   * order as push; releaseHeld gets the handle in its turn.
   */
  pushHeld(handle: number, t: number, cpu: number, line: number): void {
    this.add(undefined, handle, t, cpu, line);
  }

  private add(ev: RecordEvent | undefined, handle: number, t: number, cpu: number, line: number): void {
    if (!(cpu >= 0 && cpu < MAX_CPUS)) {
      // Never merged, and no say in the watermark or the window: a record no CPU queue can hold.
      if (ev === undefined) {
        this.onBadCpu(this.heldKind(handle), line, cpu);
        this.releaseHeld(handle, t);
      } else {
        this.onBadCpu(ev.kind, line, cpu);
        this.release(ev, t);
      }
      return;
    }
    if (t > this.maxT) this.maxT = t;
    else if (this.maxT - t > this.maxLag) this.maxLag = Math.min(this.maxT - t, this.opts.windowNs);
    const prev = this.lastByCpu[cpu];
    if (prev !== undefined && t < prev && 2 * (prev - t) > this.slack) this.slack = Math.min(MAX_SLACK_NS, 2 * (prev - t));
    if (prev === undefined || t > prev) {
      if (prev === undefined) this.cpusSeen.push(cpu);
      this.lastByCpu[cpu] = t;
      // Only the slowest CPU moving forward (or a new CPU) can move the watermark.
      if (prev === undefined || cpu === this.minCpu) this.recomputeWatermark();
    }
    if (t < this.lastReleased) {
      // Later than the window allows: keep it (never lose good data), but say so; and let the
      // window grow (up to MAX_WINDOW_NS) so that records this late are put in order from now on.
      if (this.opts.windowNs < MAX_WINDOW_NS)
        this.opts.windowNs = Math.min(MAX_WINDOW_NS, Math.max(this.opts.windowNs, 2 * (this.maxT - t)));
      this.late++;
      if (ev === undefined) {
        this.onLate(this.heldKind(handle), line);
        this.releaseHeld(handle, t);
      } else {
        this.onLate(ev.kind, line);
        this.release(ev, t);
      }
      return;
    }
    let q = this.queues[cpu];
    if (q === undefined) {
      q = new CpuQueue();
      this.queues[cpu] = q;
      this.queueList.push(q);
    }
    q.push(ev, handle, t, line);
    this.heldCount++;
    if (!(t >= this.lowHead)) this.lowHead = t;
    const allSeen = this.opts.cpus === undefined || this.cpusSeen.length >= this.opts.cpus;
    const horizon = Math.min(this.until, Math.max(allSeen ? this.minT - this.slack : -Infinity, this.maxT - this.opts.windowNs));
    // Nothing held is older than the horizon, and not too many are held: nothing to release.
    if (horizon <= this.lowHead && this.heldCount <= this.opts.maxHeld) return;
    for (;;) {
      const next = this.earliest();
      if (next === undefined) {
        this.lowHead = Infinity;
        break;
      }
      const head = next.headT;
      if (head >= horizon && this.heldCount <= this.opts.maxHeld) {
        this.lowHead = head;
        break;
      }
      const t2 = this.secondT;
      const line2 = this.secondLine;
      this.emit(next);
      // While its new head still comes before every other queue's, the same queue is next: no scan.
      while (next.size > 0) {
        const t = next.headT;
        if (!(t < t2 || (t === t2 && next.headLine < line2))) break;
        if (t >= horizon && this.heldCount <= this.opts.maxHeld) break;
        this.emit(next);
      }
    }
  }

  /**
   * The input has been quiet for `idleNs` (live, wall time): kernel time went on meanwhile, so
   * nothing can still come that is older than the newest record plus that, less the largest
   * lateness seen so far. Release up to there instead of waiting for more input.
   */
  settle(idleNs: number): void {
    const horizon = Math.min(this.until, this.maxT + idleNs - this.maxLag - this.slack);
    for (let q = this.earliest(); q !== undefined && q.headT <= horizon; q = this.earliest()) this.emit(q);
  }

  /**
   * Holds every record later than `t` however much input comes (a replay paused at a flag: nothing
   * past it may be analyzed yet, while what comes before it is let through as input allows);
   * Infinity lifts the hold (the records it kept go at the next push). The end of input and the
   * bound on records held still release everything.
   */
  holdAfter(t: number): void {
    this.until = t === Infinity ? Infinity : t + 1;
  }

  /** Releases every held record at or before `t`, whatever the horizon (a replay paused at `t`). */
  releaseThrough(t: number): void {
    for (let q = this.earliest(); q !== undefined && q.headT <= t; q = this.earliest()) this.emit(q);
  }

  /** How late a record may come and still be put in order (it grows with the lateness seen). */
  get windowNs(): number {
    return this.opts.windowNs;
  }

  /** Releases everything held (end of input). */
  flush(): void {
    for (let q = this.earliest(); q !== undefined; q = this.earliest()) this.emit(q);
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
    for (const cpu of this.cpusSeen) {
      const t = this.lastByCpu[cpu]!;
      if (t < start && t >= this.maxT - ACTIVE_CPU_NS) start = t;
    }
    return { start: (start - this.slack) as Nanos, end: (this.maxT + LOSS_TAIL_NS) as Nanos };
  }

  /**
   * The queue whose head comes first (a scan: at most MAX_CPUS queues, few next to the events). The
   * keys are read from each queue's plain double fields: a getter that returned them would box each double.
   */
  private earliest(): CpuQueue | undefined {
    let best: CpuQueue | undefined;
    let bestT = 0;
    let bestLine = 0;
    let secondT = Infinity;
    let secondLine = Infinity;
    const list = this.queueList;
    for (let i = 0; i < list.length; i++) {
      const q = list[i]!;
      if (q.size === 0) continue;
      const t = q.headT;
      const line = q.headLine;
      if (best === undefined || t < bestT || (t === bestT && line < bestLine)) {
        if (best !== undefined) {
          secondT = bestT;
          secondLine = bestLine;
        }
        best = q;
        bestT = t;
        bestLine = line;
      } else if (t < secondT || (t === secondT && line < secondLine)) {
        secondT = t;
        secondLine = line;
      }
    }
    this.secondT = secondT;
    this.secondLine = secondLine;
    return best;
  }

  /** Set by earliest: the head (time, line) of the runner-up queue ((Infinity, Infinity) if none). */
  private secondT = Infinity;
  private secondLine = Infinity;

  private recomputeWatermark(): void {
    this.minT = Infinity;
    const cpus = this.cpusSeen;
    for (let i = 0; i < cpus.length; i++) {
      const t = this.lastByCpu[cpus[i]!]!;
      if (t < this.minT) {
        this.minT = t;
        this.minCpu = cpus[i]!;
      }
    }
  }

  /** Releases the head of `q`. */
  private emit(q: CpuQueue): void {
    this.heldCount--;
    const t = q.headT;
    this.lastReleased = t;
    const ev = q.shift();
    if (ev === undefined) this.releaseHeld(q.shiftedHandle, t);
    else this.release(ev, t);
  }
}
