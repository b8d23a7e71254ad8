/**
 * Objects of one kind, keyed by address and generation. Live objects stay in memory; a freed one is
 * folded into the kind's summary and leaves only a small tombstone (bounded), which is what lets a
 * later use of the address be recognised as a use after free until the address is born again.
 */
import type { Addr, KernelEvent } from '../model/events.js';
import type { ObjectId, ObjectKind } from '../model/objects.js';
import type { Nanos } from '../model/time.js';

/** Every kind's phases include these: 'live' (born, or first seen already alive) and 'freed'. */
export type Phase<P extends string> = P | 'live' | 'freed';

export interface PhaseMark<P extends string = string> {
  phase: P;
  t: Nanos;
  line: number;
  /** The task that moved the object into this phase. */
  pid: number;
  comm: string;
}

/** `P`: the kind's own phases (lifetime/kinds.ts), besides 'live' and 'freed'. */
export interface Tracked<D = unknown, P extends string = string> extends ObjectId {
  /** The event that created this generation; undefined when it existed before we saw it. */
  born: KernelEvent | undefined;
  firstSeen: Nanos;
  lastSeen: Nanos;
  phase: Phase<P>;
  /** Phase changes in order (bounded: the first ones and the last ones matter most). */
  phases: PhaseMark<Phase<P>>[];
  uses: number;
  data: D;
}

export interface Tombstone {
  id: ObjectId;
  freed: KernelEvent;
}

/** log2 buckets of lifetime in ns: bucket i holds lifetimes in [2^i, 2^(i+1)). */
export const HISTOGRAM_BUCKETS = 48;

export interface KindSummary {
  kind: ObjectKind;
  born: number;
  /** First seen already alive (born before the capture or birth not probed). */
  preexisting: number;
  freed: number;
  /** Ended without a free being seen (its address was born again, or it was evicted). */
  endUnseen: number;
  /** Generations > 0: an address reused after a free. */
  reused: number;
  live: number;
  peakLive: number;
  lifetimeHistogram: number[];
  lifetimeMaxNs: number;
  lifetimeSumNs: number;
  lifetimeCount: number;
}

const MAX_PHASES = 24;

export class ObjectTable<D, P extends string = string> {
  readonly live = new Map<Addr, Tracked<D, P>>();
  private readonly tombstones = new Map<Addr, Tombstone>();
  private readonly generations = new Map<Addr, number>();
  readonly summary: KindSummary;
  /** Called when a generation ends (freed, or ended unseen); the live server keeps recent ones. */
  onEnd: ((o: Tracked<D, P>, freed: KernelEvent | undefined) => void) | undefined;

  constructor(
    readonly kind: ObjectKind,
    private readonly makeData: () => D,
    private readonly limits: { maxLive: number; maxTombstones: number },
    /**
     * Whether the probes report every birth of this kind at a followed address. Only then is a use
     * of a freed address a use after free; otherwise it is a new generation whose birth was not seen.
     */
    readonly birthsComplete: boolean,
  ) {
    this.summary = {
      kind,
      born: 0,
      preexisting: 0,
      freed: 0,
      endUnseen: 0,
      reused: 0,
      live: 0,
      peakLive: 0,
      lifetimeHistogram: new Array<number>(HISTOGRAM_BUCKETS).fill(0),
      lifetimeMaxNs: 0,
      lifetimeSumNs: 0,
      lifetimeCount: 0,
    };
  }

  get(addr: Addr): Tracked<D, P> | undefined {
    return this.live.get(addr);
  }

  tombstone(addr: Addr): Tombstone | undefined {
    return this.tombstones.get(addr);
  }

  /** How many generations were seen at `addr` (0 when unknown or forgotten). */
  generationsAt(addr: Addr): number {
    const g = this.generations.get(addr);
    return g === undefined ? 0 : g + 1;
  }

  /** A new generation at `addr`. A still-live previous generation ends unseen (its free was lost or filtered). */
  birth(addr: Addr, ev: KernelEvent, phase: Phase<P>): Tracked<D, P> {
    const old = this.live.get(addr);
    if (old !== undefined) this.end(old, undefined);
    this.tombstones.delete(addr);
    return this.create(addr, ev, ev, phase);
  }

  /**
   * The object at `addr` as of a use. Returns the live generation, creating one that was "already
   * there" if the address was never seen. When the address was freed and not born again, returns
   * undefined and the caller reports a use after free (see `tombstone`).
   */
  use(addr: Addr, ev: KernelEvent, phase: Phase<P>): Tracked<D, P> | undefined {
    const o = this.live.get(addr);
    if (o !== undefined) {
      this.touch(o, ev);
      return o;
    }
    if (this.tombstones.has(addr)) {
      if (this.birthsComplete) return undefined;
      this.tombstones.delete(addr);
    }
    return this.create(addr, undefined, ev, phase);
  }

  setPhase(o: Tracked<D, P>, phase: Phase<P>, ev: KernelEvent): void {
    if (o.phase === phase) return;
    o.phase = phase;
    if (o.phases.length >= MAX_PHASES) o.phases.splice(MAX_PHASES / 2, 1);
    o.phases.push({ phase, t: ev.t, line: ev.line, pid: ev.pid, comm: ev.comm });
    this.touch(o, ev);
  }

  /** The object is gone; its address may be born again. */
  free(o: Tracked<D, P>, ev: KernelEvent): void {
    this.setPhase(o, 'freed', ev);
    this.end(o, ev);
  }

  private touch(o: Tracked<D, P>, ev: KernelEvent): void {
    o.uses++;
    const t = ev.t; // read once: a megamorphic read of a double allocates
    if (t > o.lastSeen) o.lastSeen = t;
  }

  private create(addr: Addr, born: KernelEvent | undefined, ev: KernelEvent, phase: Phase<P>): Tracked<D, P> {
    const gen = this.generations.get(addr) ?? -1;
    const s = this.summary;
    if (gen >= 0) s.reused++;
    this.generations.set(addr, gen + 1);
    if (this.generations.size > this.limits.maxTombstones * 2) this.trimGenerations();
    const t = ev.t;
    const o: Tracked<D, P> = {
      kind: this.kind,
      addr,
      gen: gen + 1,
      born,
      firstSeen: t,
      lastSeen: t,
      phase,
      phases: [{ phase, t, line: ev.line, pid: ev.pid, comm: ev.comm }],
      uses: 0,
      data: this.makeData(),
    };
    if (born) s.born++;
    else s.preexisting++;
    this.live.set(addr, o);
    s.live = this.live.size;
    if (s.live > s.peakLive) s.peakLive = s.live;
    if (this.live.size > this.limits.maxLive) this.evictOldest();
    return o;
  }

  private end(o: Tracked<D, P>, freed: KernelEvent | undefined): void {
    const s = this.summary;
    this.live.delete(o.addr);
    s.live = this.live.size;
    this.onEnd?.(o, freed);
    if (freed === undefined) {
      s.endUnseen++;
      return;
    }
    s.freed++;
    if (o.born !== undefined) {
      const life = Math.max(0, freed.t - o.born.t);
      s.lifetimeHistogram[Math.min(HISTOGRAM_BUCKETS - 1, life < 1 ? 0 : Math.floor(Math.log2(life)))]!++;
      s.lifetimeCount++;
      s.lifetimeSumNs += life;
      if (life > s.lifetimeMaxNs) s.lifetimeMaxNs = life;
    }
    this.tombstones.set(o.addr, { id: { kind: o.kind, addr: o.addr, gen: o.gen }, freed });
    if (this.tombstones.size > this.limits.maxTombstones) {
      // Map iteration order is insertion order: the first key is the oldest free.
      this.tombstones.delete(this.tombstones.keys().next().value!);
    }
  }

  /** Live objects past the cap end unseen, oldest-seen first (the map is in creation order). */
  private evictOldest(): void {
    const first = this.live.values().next().value;
    if (first !== undefined) this.end(first, undefined);
  }

  /** Forget generation counters of addresses that are neither live nor tombstoned. */
  private trimGenerations(): void {
    for (const addr of this.generations.keys()) {
      if (!this.live.has(addr) && !this.tombstones.has(addr)) this.generations.delete(addr);
    }
  }
}
