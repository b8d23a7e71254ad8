/**
 * Recently ended generations, so that the objects explorer can show an address's past lives and
 * not only its current one. The analysis itself keeps only tombstones (enough for its rules); this
 * keeps the last `capacity` ended lifetimes of a host, oldest forgotten first.
 */
import type { Addr, KernelEvent } from '../model/events.js';
import type { ObjectKind } from '../model/objects.js';
import type { Nanos } from '../model/time.js';
import type { PhaseMark, Tracked } from '../lifetime/table.js';

export interface EndedLifetime {
  kind: ObjectKind;
  addr: Addr;
  gen: number;
  born: Nanos | undefined;
  first: Nanos;
  last: Nanos;
  /** undefined: it ended unseen (its address was born again, or it was evicted). */
  freed: Nanos | undefined;
  phase: string;
  phases: PhaseMark[];
  uses: number;
}

export class LifetimeHistory {
  private readonly byAddr = new Map<string, EndedLifetime[]>();
  private readonly order: string[] = [];
  private head = 0;

  constructor(private readonly capacity = 50_000) {}

  add(o: Tracked, freed: KernelEvent | undefined): void {
    const key = `${o.kind}|${o.addr}`;
    const list = this.byAddr.get(key);
    const entry: EndedLifetime = {
      kind: o.kind,
      addr: o.addr,
      gen: o.gen,
      born: o.born?.t,
      first: o.firstSeen,
      last: o.lastSeen,
      freed: freed?.t,
      phase: o.phase,
      phases: o.phases,
      uses: o.uses,
    };
    if (list === undefined) this.byAddr.set(key, [entry]);
    else list.push(entry);
    this.order.push(key);
    if (this.order.length - this.head > this.capacity) this.forgetOldest();
  }

  at(kind: ObjectKind, addr: Addr): readonly EndedLifetime[] {
    return this.byAddr.get(`${kind}|${addr}`) ?? [];
  }

  private forgetOldest(): void {
    const key = this.order[this.head++]!;
    const list = this.byAddr.get(key);
    if (list !== undefined) {
      list.shift();
      if (list.length === 0) this.byAddr.delete(key);
    }
    if (this.head > 4096 && this.head * 2 > this.order.length) {
      this.order.splice(0, this.head);
      this.head = 0;
    }
  }
}
