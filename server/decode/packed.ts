/**
 * Records in flat form, so that reading, parsing and ordering a capture can run on another thread
 * (decode/worker.ts, decode/ordered.ts) while this one analyzes.
 *
 * The worker reads each record's fields in the order its family decoder reads them (the decoder's
 * ReadPlan) through a HoldingFields, which writes the values into a HeldStore; the record waits
 * there, as numbers and cached strings, for its turn in kernel-time order. It then travels in a
 * batch, and this thread runs the decoder on a PackedFields that hands the same values back, so it
 * builds the very same event.
 *
 * An address travels as two numbers (its digits' value and count, see AddrStrings), so the worker
 * makes no string of it. Other strings (comms, names) travel once: this thread keeps a mirror of the
 * worker's text cache, slot for slot, and the worker a shadow of that mirror. Such a value is its
 * slot number when the mirror already holds it, or the string with the slot it fills.
 */
import type { Addr, RecordEvent } from '../model/events.js';
import type { Nanos } from '../model/time.js';
import { ADDR_BITS, ByteFields, hashBytes, TEXT_BITS } from './byte-fields.js';
import type { ByteStrings } from './byte-strings.js';
import { HEAD, RecordHead, type RecordFields, type RecordSpec } from './fields.js';
import type { LossWindow } from './losses.js';
import { ROUTE_LIST } from './routes.js';
import { StackTable } from './stacks.js';

/** [RECORD, route, line, t, cpu, pid, tid, fields, ...values]: a record, in its turn. */
export const OP_RECORD = 0;
/** [EVENT, index in objs]: an event the worker built (a record the text path decoded). */
export const OP_EVENT = 1;
/** [LOSS, start, end, count, line, index of reason in strs or -1]: a loss window, where it was reported. */
export const OP_LOSS = 2;

const MIRROR_SLOTS = 1 << TEXT_BITS;
/**
 * Added to a packed record's field count when a kernel stack follows its values: the stack's raw
 * text travels as one more string value (through the text cache, so a repeated stack is a slot).
 */
export const PACKED_STACK = 1 << 10;
/** A string from no cache (a name joined from fields split at its tabs): always sent whole. */
const NO_SLOT = -1;

export interface PackedBatch {
  nums: Float64Array;
  /** Numbers used in nums. */
  length: number;
  strs: string[];
  objs: RecordEvent[];
}

const BATCH_NUMS = 1 << 18;

/** The worker's side of a batch: records, events and losses in, batches out. */
export class BatchWriter {
  private nums: Float64Array = new Float64Array(BATCH_NUMS + 256);
  /** Numbers used in nums (a record is written in place: reserve, write, set n, done). */
  n = 0;
  private strs: string[] = [];
  private objs: RecordEvent[] = [];
  /** What the other side's mirror holds, slot by slot. */
  private readonly shadow: (string | undefined)[] = new Array<string | undefined>(MIRROR_SLOTS).fill(undefined);
  /** Buffers the other side is done with (see recycle). */
  private readonly free: Float64Array[] = [];
  /**
   * Numbers that make a batch full: few at first, so that the other side starts analyzing while
   * this one is still warming up, then doubling up to BATCH_NUMS.
   */
  private full = 4096;

  constructor(private readonly out: (b: PackedBatch) => void) {}

  event(ev: RecordEvent): void {
    this.push(OP_EVENT);
    this.push(this.objs.push(ev) - 1);
    this.done();
  }

  loss(w: LossWindow): void {
    this.push(OP_LOSS);
    this.push(w.start);
    this.push(w.end);
    this.push(w.count);
    this.push(w.line);
    this.push(w.reason === undefined ? -1 : this.strs.push(w.reason) - 1);
    this.done();
  }

  push(v: number): void {
    this.reserve(1)[this.n++] = v;
  }

  /** The numbers array, with room for `k` more from index `n` (for writing a record in place). */
  reserve(k: number): Float64Array {
    if (this.n + k > this.nums.length) {
      const bigger = new Float64Array(Math.max(this.nums.length * 2, this.n + k));
      bigger.set(this.nums);
      this.nums = bigger;
    }
    return this.nums;
  }

  /** Writes a string value that came from mirror slot `slot` (or NO_SLOT) at index n of reserved room; the next index. */
  strAt(n: number, s: string, slot: number): number {
    const nums = this.nums;
    if (slot !== NO_SLOT && this.shadow[slot] === s) {
      nums[n] = slot;
      return n + 1;
    }
    nums[n] = -1 - (this.strs.push(s) - 1);
    nums[n + 1] = slot;
    if (slot !== NO_SLOT) this.shadow[slot] = s;
    return n + 2;
  }

  /** A record, event or loss is complete: the batch may go. */
  done(): void {
    if (this.n >= this.full) this.flush();
  }

  flush(): void {
    if (this.n === 0) return;
    this.out({ nums: this.nums, length: this.n, strs: this.strs, objs: this.objs });
    this.full = Math.min(BATCH_NUMS, this.full * 2);
    this.nums = this.free.pop() ?? new Float64Array(BATCH_NUMS + 256);
    this.n = 0;
    this.strs = [];
    this.objs = [];
  }

  /**
   * A batch's numbers, back from the other side for reuse: a fresh buffer per batch is external
   * memory, and V8 answers a steady stream of it with full collections.
   */
  recycle(nums: Float64Array): void {
    this.free.push(nums);
  }
}

/** Where the records of a batch go, in order. */
export interface BatchSink {
  /** A record of route `route` (index in ROUTE_LIST), at time `t`. */
  record(ev: RecordEvent, t: number, route: number): void;
  event(ev: RecordEvent, t: number): void;
  loss(w: LossWindow): void;
}

/** This thread's side: a decoder reads a packed record through it, value by value. */
export class PackedFields extends RecordHead implements RecordFields {
  /** The record's field count (as ByteFields.n). */
  n = 0;
  private nums: Float64Array = new Float64Array(0);
  private strs: string[] = [];
  private pos = 0;
  private readonly mirror: string[] = new Array<string>(MIRROR_SLOTS).fill('');
  private readonly addrs = new AddrStrings(ADDR_BITS);
  private readonly stacks = new StackTable();

  /** Hands every record, event and loss of `b` to `sink`, in order. */
  read(b: PackedBatch, sink: BatchSink): void {
    const nums = b.nums;
    this.nums = nums;
    this.strs = b.strs;
    for (let i = 0; i < b.length; ) {
      const op = nums[i]!;
      if (op === OP_RECORD) {
        const route = nums[i + 1]!;
        const spec = ROUTE_LIST[route]!.spec;
        this.lineNo = nums[i + 2]!;
        const t = nums[i + 3]!;
        this.t = t as Nanos;
        this.cpu = nums[i + 4]!;
        this.pid = nums[i + 5]!;
        this.tid = nums[i + 6]!;
        const n = nums[i + 7]!;
        this.n = n % PACKED_STACK;
        this.pos = i + 8;
        this.comm = this.next();
        const ev = spec.decode(this, spec.fn);
        if (n >= PACKED_STACK) {
          // The worker checked it (HoldingFields.hold): a stack that would not parse was not held.
          const stack = this.stacks.of(this.next());
          if (stack !== undefined) ev.stack = stack;
        }
        i = this.pos;
        sink.record(ev, t, route);
      } else if (op === OP_EVENT) {
        const ev = b.objs[nums[i + 1]!]!;
        // Its stack came as a copy (structured clone): share it with equal ones.
        if (ev.stack !== undefined) ev.stack = this.stacks.share(ev.stack);
        sink.event(ev, ev.t);
        i += 2;
      } else {
        const r = nums[i + 5]!;
        const w: LossWindow = { start: nums[i + 1]! as Nanos, end: nums[i + 2]! as Nanos, count: nums[i + 3]!, line: nums[i + 4]! };
        if (r >= 0) w.reason = b.strs[r]!;
        sink.loss(w);
        i += 6;
      }
    }
  }

  /** The next string value; a new one fills its slot. */
  private next(): string {
    const v = this.nums[this.pos++]!;
    if (v >= 0) return this.mirror[v]!;
    const s = this.strs[-1 - v]!;
    const slot = this.nums[this.pos++]!;
    if (slot !== NO_SLOT) this.mirror[slot] = s;
    return s;
  }

  addr(_i: number): Addr {
    const a = this.addrs.of(this.nums[this.pos]!, this.nums[this.pos + 1]!);
    this.pos += 2;
    return a;
  }

  int(_i: number): number {
    return this.nums[this.pos++]!;
  }

  bool(i: number): boolean {
    return this.int(i) !== 0;
  }

  /** A string field (joined by the worker when `rest`): one value, if the record has the field. */
  str(i: number): string {
    return HEAD + i < this.n ? this.next() : '';
  }
}

/**
 * An address as two numbers: `hi` (the digits before the last eight, as a number) times 32 plus the
 * digit count, and `lo` (the last eight digits). Addresses are 1 to 16 lowercase hex digits, so the
 * pair gives back exactly the text the capture had, leading zeros included.
 */
function addrText(hiLen: number, lo: number): Addr {
  const len = hiLen % 32;
  const hi = (hiLen - len) / 32;
  const codes = DIGITS[len]!;
  for (let k = 0; k < len; k++) {
    const d = k < 8 ? (lo >>> (4 * k)) & 15 : (hi >>> (4 * (k - 8))) & 15;
    codes[len - 1 - k] = d < 10 ? 48 + d : 87 + d;
  }
  // One flat string straight from the digits (Number#toString(16) and padStart cost ten times more).
  return String.fromCharCode.apply(null, codes as unknown as number[]) as Addr;
}

/** Scratch digits for addrText, one array per length. */
const DIGITS = Array.from({ length: 17 }, (_, n) => new Uint16Array(n));

/** Address strings by their number pairs, in a direct-mapped cache: equal addresses, the same string. */
class AddrStrings {
  private readonly his: Float64Array;
  private readonly los: Float64Array;
  private readonly strs: Addr[];
  private readonly shift: number;

  constructor(bits: number) {
    this.his = new Float64Array(1 << bits).fill(-1);
    this.los = new Float64Array(1 << bits);
    this.strs = new Array<Addr>(1 << bits).fill('' as Addr);
    this.shift = 32 - bits;
  }

  of(hiLen: number, lo: number): Addr {
    const slot = Math.imul((lo | 0) ^ Math.imul(hiLen | 0, 0x85ebca6b), 0x9e3779b1) >>> this.shift;
    if (this.his[slot] === hiLen && this.los[slot] === lo) return this.strs[slot]!;
    const s = addrText(hiLen, lo);
    this.his[slot] = hiLen;
    this.los[slot] = lo;
    this.strs[slot] = s;
    return s;
  }
}

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
   * order (ReadPlan), then its kernel stack if it has one (PACKED_STACK), without building the
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

const READ_ADDR = 0;
const READ_INT = 1;
const READ_STR = 2;
const READ_REST = 3;

/**
 * The reads a decoder makes, in order, as (op, field) pairs: every decoder reads the same fields
 * whatever their values (test/pipeline.test.ts checks it), so the worker can hold a record's values
 * without running the decoder, and this thread's decoder reads them back in the same order. (A bool
 * is an int, on both sides.)
 */
class ReadPlan extends RecordHead implements RecordFields {
  readonly ops: number[] = [];

  addr(i: number): Addr {
    this.ops.push(READ_ADDR, i);
    return '0' as Addr;
  }

  int(i: number): number {
    this.ops.push(READ_INT, i);
    return 0;
  }

  bool(i: number): boolean {
    this.int(i);
    return false;
  }

  str(i: number, rest = false): string {
    this.ops.push(rest ? READ_REST : READ_STR, i);
    return '';
  }
}

/** The reads of `spec`'s decoder, and the kind of the events it builds. */
export function readPlanOf(spec: RecordSpec): { ops: number[]; kind: RecordEvent['kind'] } {
  const p = new ReadPlan();
  const { kind } = spec.decode(p, spec.fn);
  return { ops: p.ops, kind };
}

const ROUTE_PLANS = ROUTE_LIST.map((r) => readPlanOf(r.spec));
const PLANS: readonly (readonly number[])[] = ROUTE_PLANS.map((p) => p.ops);
const ROUTE_KINDS: readonly RecordEvent['kind'][] = ROUTE_PLANS.map((p) => p.kind);

function sameText(s: string, buf: Buffer, from: number, to: number): boolean {
  for (let i = from, k = 0; i < to; i++, k++) if (s.charCodeAt(k) !== buf[i]) return false;
  return true;
}
