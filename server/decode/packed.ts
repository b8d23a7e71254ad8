/**
 * Decoded records in flat form, so that the reading and parsing of a capture can run on another
 * thread (decode/worker.ts) while this one analyzes. The worker checks each line exactly as the
 * in-thread fast path does, and runs the family decoder on a RecordingFields that writes down every
 * value the decoder read, in order; this thread runs the same decoder on a PackedFields that hands
 * the same values back, so it builds the very same event. Lines the fast path would not take travel
 * as text and go through CaptureDecoder.line as before.
 *
 * Strings travel once: the worker's address and text caches are mirrored here slot for slot. A
 * value is a slot number when the worker's cache already held it, or a new string with the slot it
 * fills. A batch is a list of numbers (ops below) and the strings it introduces.
 */
import type { Addr, RecordEvent } from '../model/events.js';
import type { Nanos } from '../model/time.js';
import { ADDR_BITS, ByteFields, TEXT_BITS } from './byte-fields.js';
import type { ByteStrings } from './byte-strings.js';
import { HEAD, type RecordFields } from './fields.js';
import { readPlainHead } from './plain.js';
import { ROUTE_LIST, type Route } from './routes.js';

/**
 * [REC, route, line, sec, ns, cpu, pid, tid, fields, nvals, mask, ...values]: a record decoded on
 * the worker. `nvals` values were read (comm first); bit k of `mask` is set when value k is a string
 * (one number when its slot is cached, two when new), so this side can take the values apart
 * without running the decoder (see HeldRecords).
 */
export const OP_RECORD = 0;
/** [TEXT, line, string]: a line for the text path. */
export const OP_TEXT = 1;
/** [SLOT, slot, string]: a cache slot refilled by a record the worker then left to the text path. */
export const OP_SLOT = 2;

/** Mirror slots: addresses first, then texts. */
const TEXT_BASE = 1 << ADDR_BITS;
export const MIRROR_SLOTS = TEXT_BASE + (1 << TEXT_BITS);
const NO_SLOT = -1;

export interface PackedBatch {
  nums: Float64Array;
  /** Numbers used in nums. */
  length: number;
  strs: string[];
}

const BATCH_NUMS = 1 << 18;

/** The worker's side: capture lines in, batches out. */
export class RecordPacker {
  private nums: Float64Array = new Float64Array(BATCH_NUMS + 256);
  private n = 0;
  private strs: string[] = [];
  private readonly r: RecordingFields = new RecordingFields(this);
  private seenFirst = false;
  /** Buffers the other side is done with (see recycle). */
  private readonly free: Float64Array[] = [];
  /** Number of the last line seen. */
  lastLine = 0;

  constructor(private readonly out: (b: PackedBatch) => void) {}

  line(buf: Buffer, start: number, end: number, lineNo: number): void {
    this.lastLine = lineNo;
    if (!this.seenFirst || !this.record(buf, start, end, lineNo)) {
      this.seenFirst = true;
      this.push(OP_TEXT);
      this.push(lineNo);
      this.push(this.str(buf.toString('utf8', start, end)));
    }
    if (this.n >= BATCH_NUMS) this.flush();
  }

  flush(): void {
    if (this.n === 0) return;
    this.out({ nums: this.nums, length: this.n, strs: this.strs });
    this.nums = this.free.pop() ?? new Float64Array(BATCH_NUMS + 256);
    this.n = 0;
    this.strs = [];
  }

  /**
   * A batch's numbers, back from the other side for reuse: a fresh buffer per batch is external
   * memory, and V8 answers a steady stream of it with full collections.
   */
  recycle(nums: Float64Array): void {
    this.free.push(nums);
  }

  push(v: number): void {
    if (this.n === this.nums.length) {
      const bigger = new Float64Array(this.nums.length * 2);
      bigger.set(this.nums);
      this.nums = bigger;
    }
    this.nums[this.n++] = v;
  }

  /** Index of a new string in this batch. */
  str(s: string): number {
    return this.strs.push(s) - 1;
  }

  private record(buf: Buffer, start: number, end: number, lineNo: number): boolean {
    const r = this.r;
    const route = readPlainHead(r, buf, start, end);
    if (route === undefined) return false;
    const at = this.n;
    this.push(OP_RECORD);
    this.push(route.index);
    this.push(lineNo);
    this.push(r.sec);
    this.push(r.ns);
    this.push(r.cpu);
    this.push(r.pid);
    this.push(r.tid);
    this.push(r.n);
    const countAt = this.n;
    this.push(0);
    this.push(0);
    r.refills.length = 0;
    r.vals = 0;
    r.mask = 0;
    r.comm = r.text(r.n - 1);
    route.spec.decode(r, route.spec.fn);
    if (r.error === null) {
      this.nums[countAt] = r.vals;
      this.nums[countAt + 1] = r.mask;
      return true;
    }
    // Left to the text path; the cache slots it refilled stay refilled, here and over there.
    const refills = r.refills;
    this.n = at;
    for (let i = 0; i < refills.length; i += 2) {
      this.push(OP_SLOT);
      this.push(refills[i]!);
      this.push(refills[i + 1]!);
    }
    return false;
  }
}

/** ByteFields that writes each value a decoder reads into the packer. */
class RecordingFields extends ByteFields {
  /** (slot, string) pairs refilled by the current record. */
  readonly refills: number[] = [];
  /** Values read from the current record, and which of them are strings (bit k: value k). */
  vals = 0;
  mask = 0;

  private stringValue(): void {
    if (this.vals < 31) this.mask |= 1 << this.vals;
    this.vals++;
  }

  constructor(private readonly p: RecordPacker) {
    super();
  }

  protected override intern(cache: ByteStrings, buf: Buffer, from: number, to: number, hash: number): string {
    const local = cache.slotOf(buf, from, to, hash);
    const slot = cache === this.addrs ? local : TEXT_BASE + local;
    const s = cache.at(local);
    this.stringValue();
    if (cache.fresh) {
      const j = this.p.str(s);
      this.p.push(-1 - j);
      this.p.push(slot);
      this.refills.push(slot, j);
    } else {
      this.p.push(slot);
    }
    return s;
  }

  override int(i: number): number {
    const v = super.int(i);
    this.vals++;
    this.p.push(v);
    return v;
  }

  override str(i: number, rest = false): string {
    const k = HEAD + i;
    if (!rest || k >= this.n - 2) return super.str(i, rest);
    // A name that held tabs: its parts are not cached; the joined name travels as is.
    const parts: string[] = [];
    for (let j = k; j < this.n - 1; j++) parts.push(this.buf.toString('latin1', this.start[j], this.end[j]));
    const s = parts.join('\t');
    this.stringValue();
    this.p.push(-1 - this.p.str(s));
    this.p.push(NO_SLOT);
    return s;
  }
}

/** This thread's side: a decoder reads a packed record through it, value by value. */
export class PackedFields implements RecordFields {
  t = 0 as Nanos;
  cpu = 0;
  pid = 0;
  tid = 0;
  comm = '';
  lineNo = 0;
  /** The record's field count (as ByteFields.n). */
  n = 0;
  nums: Float64Array = new Float64Array(0);
  strs: string[] = [];
  pos = 0;
  readonly mirror: string[] = new Array<string>(MIRROR_SLOTS).fill('');

  /** The next string value; a new one fills its slot. */
  next(): string {
    const v = this.nums[this.pos++]!;
    if (v >= 0) return this.mirror[v]!;
    const s = this.strs[-1 - v]!;
    const slot = this.nums[this.pos++]!;
    if (slot !== NO_SLOT) this.mirror[slot] = s;
    return s;
  }

  addr(_i: number): Addr {
    return this.next() as Addr;
  }

  int(_i: number): number {
    return this.nums[this.pos++]!;
  }

  bool(i: number): boolean {
    return this.int(i) !== 0;
  }

  str(i: number, rest = false): string {
    const k = HEAD + i;
    if (!rest || k >= this.n - 2) return k < this.n ? this.next() : '';
    return this.next();
  }
}

export type { Route };

/** Most values (comm included) a held record keeps; a record with more is built at once. */
export const HELD_VALS = 8;
/** Numbers per handle: the head (route, t, cpu, pid, tid, n, line; one spare), then the ints. */
const HEAD_NUMS = 8;
const STRIDE = HEAD_NUMS + HELD_VALS;

/**
 * Packed records waiting in the reorderer (decode/reorder.ts) for their turn, taken apart into typed
 * arrays (and their strings, resolved in line order through the mirror, into an array) instead of
 * as events: tens of thousands of them wait at once, and as objects they would outlive every
 * scavenge. `build` makes the very event the decoder would have made at once, and frees the handle.
 */
export class HeldRecords implements RecordFields {
  t = 0 as Nanos;
  cpu = 0;
  pid = 0;
  tid = 0;
  comm = '';
  lineNo = 0;
  n = 0;
  private ni = 0;
  private si = 0;
  private cap = 0;
  /** Head and ints of each handle side by side (a record's numbers share cache lines). */
  private heads = new Float64Array(0);
  private strs: string[] = [];
  /** Free handles (a stack: the most recently freed, whose memory is likeliest cached, goes first). */
  private free = new Int32Array(0);
  private nfree = 0;

  constructor() {
    this.grow(1024);
  }

  /**
   * Takes the values of the record at nums[pos] (nvals of them, strings per `mask`) into a new
   * handle; the head fields as given.
   */
  hold(f: PackedFields, route: number, pos: number, nvals: number, mask: number): number {
    if (this.nfree === 0) this.grow(this.cap * 2);
    const h = this.free[--this.nfree]!;
    const hb = h * STRIDE;
    const heads = this.heads;
    heads[hb] = route;
    heads[hb + 1] = f.t;
    heads[hb + 2] = f.cpu;
    heads[hb + 3] = f.pid;
    heads[hb + 4] = f.tid;
    heads[hb + 5] = f.n;
    heads[hb + 6] = f.lineNo;
    let ni = hb + HEAD_NUMS;
    let si = h * HELD_VALS;
    f.pos = pos;
    for (let k = 0; k < nvals; k++) {
      if ((mask & (1 << k)) !== 0) this.strs[si++] = f.next();
      else heads[ni++] = f.nums[f.pos++]!;
    }
    return h;
  }

  /** The route (index in ROUTE_LIST) of handle `h`. */
  route(h: number): number {
    return this.heads[h * STRIDE]! | 0;
  }

  /** The event of handle `h` (which is free again after). */
  build(h: number): RecordEvent {
    const hb = h * STRIDE;
    const heads = this.heads;
    const route = ROUTE_LIST[heads[hb]! | 0]!;
    this.t = heads[hb + 1]! as Nanos;
    this.cpu = heads[hb + 2]!;
    this.pid = heads[hb + 3]!;
    this.tid = heads[hb + 4]!;
    this.n = heads[hb + 5]!;
    this.lineNo = heads[hb + 6]!;
    this.ni = hb + HEAD_NUMS;
    this.si = h * HELD_VALS;
    this.comm = this.strs[this.si++]!;
    const ev = route.spec.decode(this, route.spec.fn);
    this.free[this.nfree++] = h;
    return ev;
  }

  private nextStr(): string {
    return this.strs[this.si++]!;
  }

  addr(_i: number): Addr {
    return this.nextStr() as Addr;
  }

  int(_i: number): number {
    return this.heads[this.ni++]!;
  }

  bool(i: number): boolean {
    return this.int(i) !== 0;
  }

  str(i: number, rest = false): string {
    const k = HEAD + i;
    if (!rest || k >= this.n - 2) return k < this.n ? this.nextStr() : '';
    return this.nextStr();
  }

  private grow(cap: number): void {
    const heads = new Float64Array(cap * STRIDE);
    heads.set(this.heads);
    const strs = new Array<string>(cap * HELD_VALS).fill('');
    for (let i = 0; i < this.strs.length; i++) strs[i] = this.strs[i]!;
    // Every handle of the old capacity is in use (grow is called when none is free).
    const free = new Int32Array(cap);
    let nfree = 0;
    for (let h = this.cap; h < cap; h++) free[nfree++] = h;
    this.heads = heads;
    this.strs = strs;
    this.free = free;
    this.nfree = nfree;
    this.cap = cap;
  }
}
