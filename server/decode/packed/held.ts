/** The decode worker's side of packed batches (batch.ts): records held as values while they wait for their turn. */
import type { Addr, RecordEvent } from '../../model/events.js';
import { ByteFields, hashBytes } from '../byte-fields.js';
import type { ByteStrings } from '../byte-strings.js';
import { READ_ADDR, READ_INT, READ_REST } from '../codec.js';
import { HEAD } from '../fields.js';
import { ROUTE_LIST } from '../routes.js';
import type { StackTable } from '../stacks.js';
import { type BatchWriter, NO_SLOT, OP_RECORD } from './batch.js';

/**
 * Most numbers (an int is one, an address two) and strings (comm included) a held record keeps; a
 * record with more goes to the text path.
 */
const HELD_NUMS = 12;
const HELD_STRS = 4;
/** Numbers per handle: the head (route, t, cpu, pid, tid, n, line, values), then the numbers. */
const HEAD_NUMS = 8;
const STRIDE = HEAD_NUMS + HELD_NUMS;

/**
 * Records waiting in the worker's reorderer for their turn, as the values their decoder reads:
 * numbers (ints; addresses as pairs) in a typed array, strings (with their cache slots) in arrays
 * beside it, no event object. Thousands wait at once; as objects they would outlive every scavenge.
 */
export class HeldStore {
  private cap = 0;
  /** Head and ints of each handle side by side (a record's numbers share cache lines). */
  private heads = new Float64Array(0);
  private strs: string[] = [];
  private slots = new Int32Array(0);
  /**
   * Free handles, a ring: first freed, first reused. Records are released in about the order they
   * came, so handles are taken and read back in about the order of memory (the prefetcher's way),
   * not scattered over all of it.
   */
  private free = new Int32Array(0);
  private freeHead = 0;
  private nfree = 0;

  constructor() {
    this.grow(1024);
  }

  /** A new handle for a record with this head; its values follow (setNum, setStr), then close. */
  open(route: number, t: number, cpu: number, pid: number, tid: number, n: number, line: number): number {
    if (this.nfree === 0) this.grow(this.cap * 2);
    const h = this.free[this.freeHead]!;
    this.freeHead = (this.freeHead + 1) & (this.cap - 1);
    this.nfree--;
    const hb = h * STRIDE;
    const heads = this.heads;
    heads[hb] = route;
    heads[hb + 1] = t;
    heads[hb + 2] = cpu;
    heads[hb + 3] = pid;
    heads[hb + 4] = tid;
    heads[hb + 5] = n;
    heads[hb + 6] = line;
    return h;
  }

  /** The `ni`-th number of handle h. */
  setNum(h: number, ni: number, v: number): void {
    this.heads[h * STRIDE + HEAD_NUMS + ni] = v;
  }

  /** The `si`-th string of handle h, from mirror slot `slot`. */
  setStr(h: number, si: number, s: string, slot: number): void {
    const j = h * HELD_STRS + si;
    this.strs[j] = s;
    this.slots[j] = slot;
  }

  /** The record of handle h is complete: `vals` values, bit k of `mask` set where value k is a string. */
  close(h: number, vals: number, mask: number): void {
    this.heads[h * STRIDE + 7] = (vals << 16) | mask;
  }

  /** Gives handle h back unused. */
  drop(h: number): void {
    this.release(h);
  }

  private release(h: number): void {
    this.free[(this.freeHead + this.nfree++) & (this.cap - 1)] = h;
  }

  /** Writes the record of handle h to `w` (which frees it). */
  write(h: number, w: BatchWriter): void {
    const hb = h * STRIDE;
    const heads = this.heads;
    const vm = heads[hb + 7]! | 0;
    const mask = vm & 0xffff;
    const vals = vm >>> 16;
    const out = w.reserve(8 + 2 * vals);
    let n = w.n;
    out[n] = OP_RECORD;
    out[n + 1] = heads[hb]!;
    out[n + 2] = heads[hb + 6]!;
    out[n + 3] = heads[hb + 1]!;
    out[n + 4] = heads[hb + 2]!;
    out[n + 5] = heads[hb + 3]!;
    out[n + 6] = heads[hb + 4]!;
    out[n + 7] = heads[hb + 5]!;
    n += 8;
    let ni = hb + HEAD_NUMS;
    let si = h * HELD_STRS;
    for (let k = 0; k < vals; k++) {
      if ((mask & (1 << k)) !== 0) {
        n = w.strAt(n, this.strs[si]!, this.slots[si]!);
        si++;
      } else {
        out[n++] = heads[ni++]!;
      }
    }
    w.n = n;
    w.done();
    this.release(h);
  }

  /** The event kind of handle h's record (its route's). */
  kind(h: number): RecordEvent['kind'] {
    return ROUTE_KINDS[this.heads[h * STRIDE]! | 0]!;
  }

  private grow(cap: number): void {
    const heads = new Float64Array(cap * STRIDE);
    heads.set(this.heads);
    const strs = new Array<string>(cap * HELD_STRS).fill('');
    for (let i = 0; i < this.strs.length; i++) strs[i] = this.strs[i]!;
    const slots = new Int32Array(cap * HELD_STRS);
    slots.set(this.slots);
    // Every handle of the old capacity is in use (grow is called when none is free). Capacities
    // are powers of two (the ring's index is masked).
    const free = new Int32Array(cap);
    let nfree = 0;
    for (let h = this.cap; h < cap; h++) free[nfree++] = h;
    this.freeHead = 0;
    this.heads = heads;
    this.strs = strs;
    this.slots = slots;
    this.free = free;
    this.nfree = nfree;
    this.cap = cap;
  }
}

/**
 * ByteFields that writes each value a decoder reads into a HeldStore handle (call `begin` first):
 * addresses as number pairs, strings with their cache slots. A record with more values than a
 * handle keeps is rejected (the text path takes it).
 */
export class HoldingFields extends ByteFields {
  private h = 0;
  /** Numbers and strings written for the current record, and which of them are strings (bit k: value k). */
  vals = 0;
  mask = 0;
  private ni = 0;
  private si = 0;

  constructor(
    private readonly store: HeldStore,
    private readonly stacks: StackTable,
  ) {
    super();
  }

  /**
   * Reads the record into handle h: comm, then the fields its route's decoder reads, in the same
   * order (its read plan), then its kernel stack if it has one (PACKED_STACK), without building the
   * event. False when a field or the stack does not parse.
   */
  hold(h: number, route: number): boolean {
    this.h = h;
    this.vals = 0;
    this.mask = 0;
    this.ni = 0;
    this.si = 0;
    this.text(this.n - 1);
    const plan = PLANS[route]!;
    for (let k = 0; k < plan.length; k += 2) {
      const op = plan[k]!;
      const i = plan[k + 1]!;
      if (op === READ_ADDR) this.addr(i);
      else if (op === READ_INT) this.int(i);
      else this.str(i, op === READ_REST);
    }
    if (this.stackFrom >= 0) {
      const from = this.stackFrom;
      const to = this.stackTo;
      const { last, lastSlot } = this; // keep the comm for the next record's shortcut
      const raw = this.intern(this.texts, this.buf, from, to, hashBytes(this.buf, from, to));
      this.last = last;
      this.lastSlot = lastSlot;
      if (this.stacks.of(raw) === undefined) this.reject(); // the text path counts it
    }
    return this.error === null;
  }

  private stringValue(s: string, slot: number): void {
    if (this.si >= HELD_STRS) {
      this.reject();
      return;
    }
    this.mask |= 1 << this.vals;
    this.vals++;
    this.store.setStr(this.h, this.si++, s, slot);
  }

  private numberValue(v: number): void {
    if (this.ni >= HELD_NUMS) {
      this.reject();
      return;
    }
    this.vals++;
    this.store.setNum(this.h, this.ni++, v);
  }

  protected override intern(cache: ByteStrings, buf: Buffer, from: number, to: number, hash: number): string {
    const slot = cache.slotOf(buf, from, to, hash);
    const s = cache.at(slot);
    this.stringValue(s, slot);
    this.last = s;
    this.lastSlot = slot;
    return s;
  }

  /** The last text read, and its slot: a task's records come in runs, each with the same comm. */
  private last = '';
  private lastSlot = 0;

  override text(i: number): string {
    const from = this.start[i]!;
    const to = this.end[i]!;
    const s = this.last;
    if (s.length === to - from && sameText(s, this.buf, from, to)) {
      // The shadow protocol sends (string, slot) pairs: the slot need not still hold s here.
      this.stringValue(s, this.lastSlot);
      return s;
    }
    return super.text(i);
  }

  /** An address as its number pair (addrText); the string is made on the other side. */
  override addr(i: number): Addr {
    const k = HEAD + i;
    if (k >= this.n) return this.reject() as Addr;
    const buf = this.buf;
    const from = this.start[k]!;
    const to = this.end[k]!;
    const len = to - from;
    if (len <= 0 || len > 16) return this.reject() as Addr;
    const split = to - 8;
    let hi = 0;
    let lo = 0;
    for (let j = from; j < to; j++) {
      const c = buf[j]!;
      let d: number;
      if (c >= 48 && c <= 57) d = c - 48;
      else if (c >= 97 && c <= 102) d = c - 87;
      else return this.reject() as Addr;
      if (j < split) hi = hi * 16 + d;
      else lo = lo * 16 + d;
    }
    this.numberValue(hi * 32 + len);
    this.numberValue(lo);
    return '' as Addr; // the worker's event is not used
  }

  override int(i: number): number {
    const v = super.int(i);
    this.numberValue(v);
    return v;
  }

  override str(i: number, rest = false): string {
    const k = HEAD + i;
    if (!rest || k >= this.n - 2) return super.str(i, rest);
    // A name that held tabs: its parts are not cached; the joined name travels as is.
    const parts: string[] = [];
    for (let j = k; j < this.n - 1; j++) parts.push(this.buf.toString('latin1', this.start[j], this.end[j]));
    const s = parts.join('\t');
    this.stringValue(s, NO_SLOT);
    return s;
  }
}

/** Each route's read plan (decode/codec.ts) and event kind. */
const PLANS: readonly (readonly number[])[] = ROUTE_LIST.map((r) => r.codec.plan);
const ROUTE_KINDS: readonly RecordEvent['kind'][] = ROUTE_LIST.map((r) => r.codec.kind);

function sameText(s: string, buf: Buffer, from: number, to: number): boolean {
  for (let i = from, k = 0; i < to; i++, k++) if (s.charCodeAt(k) !== buf[i]) return false;
  return true;
}
