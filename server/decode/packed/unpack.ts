/** The analyzing thread's side of packed batches (batch.ts): records back into events, by their decoders. */
import type { Addr } from '../../model/events.js';
import type { Nanos } from '../../model/time.js';
import { ADDR_BITS } from '../byte-fields.js';
import { HEAD, RecordHead, type RecordFields } from '../fields.js';
import type { LossWindow } from '../losses.js';
import { ROUTE_LIST } from '../routes.js';
import { StackTable } from '../stacks.js';
import { type BatchSink, MIRROR_SLOTS, NO_SLOT, OP_EVENT, OP_RECORD, PACKED_STACK, type PackedBatch } from './batch.js';

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
        const codec = ROUTE_LIST[route]!.codec;
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
        const ev = codec.decode(this);
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
export function addrText(hiLen: number, lo: number): Addr {
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
