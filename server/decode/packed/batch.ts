/**
 * Records in flat form, so that reading, parsing and ordering a capture can run on another thread
 * (packed/worker.ts, packed/packing.ts) while this one analyzes: the batches that carry them, and
 * the worker's side that writes them.
 *
 * The worker reads each record's fields in the order of its read plan (decode/codec.ts, derived
 * from the record's spec) through a HoldingFields (held.ts), which writes the values into a
 * HeldStore; the record waits there, as numbers and cached strings, for its turn in kernel-time
 * order. It then travels in a batch, and this thread runs the record's decoder on a PackedFields
 * (unpack.ts) that hands the same values back, so it builds the very same event.
 *
 * An address travels as two numbers (its digits' value and count, see unpack.ts), so the worker
 * makes no string of it. Other strings (comms, names) travel once: this thread keeps a mirror of the
 * worker's text cache, slot for slot, and the worker a shadow of that mirror. Such a value is its
 * slot number when the mirror already holds it, or the string with the slot it fills.
 */
import type { RecordEvent } from '../../model/events.js';
import { TEXT_BITS } from '../byte-fields.js';
import type { LossWindow } from '../losses.js';

/** [RECORD, route, line, t, cpu, pid, tid, fields, ...values]: a record, in its turn. */
export const OP_RECORD = 0;
/** [EVENT, index in objs]: an event the worker built (a record the text path decoded). */
export const OP_EVENT = 1;
/** [LOSS, start, end, count, line, index of reason in strs or -1]: a loss window, where it was reported. */
export const OP_LOSS = 2;

/** Slots of the text cache, mirrored on the analyzing side. */
export const MIRROR_SLOTS = 1 << TEXT_BITS;
/**
 * Added to a packed record's field count when a kernel stack follows its values: the stack's raw
 * text travels as one more string value (through the text cache, so a repeated stack is a slot).
 */
export const PACKED_STACK = 1 << 10;
/** A string from no cache (a name joined from fields split at its tabs): always sent whole. */
export const NO_SLOT = -1;

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
