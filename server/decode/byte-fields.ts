/**
 * The fast path of record decoding: a printf record read straight from the capture's bytes, with
 * no string made of the line. It accepts only plain records (ASCII, no JSON escape but the
 * separating `\t`) and knows no error messages: anything it does not accept, and any field that
 * does not parse, makes `error` non-null, and the caller then decodes the line as text (Fields),
 * which produces the very same event or the anomaly with its message.
 *
 * Addresses and comms come from ByteStrings caches: equal bytes give the same string object.
 */
import type { Addr } from '../model/events.js';
import { ByteStrings } from './byte-strings.js';
import { HEAD, MAX_FIELDS, RecordHead, type RecordFields } from './fields.js';

/** Cache sizes (log2 slots) for addresses and other strings (comms, names). */
export const ADDR_BITS = 16;
export const TEXT_BITS = 12;
const T = 116;
const N = 110;
/** What a byte is to split: most are plain; a backslash starts an escape, a quote ends the body. */
const PLAIN = 0;
const ESCAPE = 1;
const QUOTE = 2;
const REJECTED = 3;
const BYTE_CLASS = (() => {
  const c = new Uint8Array(256);
  c[92] = ESCAPE;
  c[34] = QUOTE;
  c[10] = REJECTED;
  c.fill(REJECTED, 0x80);
  return c;
})();
/** Any reason to leave the record to the text path; its wording does not matter. */
const REJECT = 'not a plain record';

export class ByteFields extends RecordHead implements RecordFields {
  buf: Buffer = Buffer.alloc(0);
  n = 0;
  readonly start = new Int32Array(MAX_FIELDS);
  readonly end = new Int32Array(MAX_FIELDS);
  error: string | null = null;
  /** The trailing stack field (decode/stacks.ts) spans bytes [stackFrom, stackTo); -1: none. */
  stackFrom = -1;
  stackTo = -1;
  /** The record's time as read, before the TimeBase makes it relative. */
  sec = 0;
  ns = 0;
  /** Where scanPlainRecord found the line's newline. */
  lineEnd = 0;
  private viewed: Buffer | undefined;
  private dataView: DataView<ArrayBufferLike> = new DataView(new ArrayBuffer(0));
  protected readonly addrs = new ByteStrings(ADDR_BITS);
  protected readonly texts = new ByteStrings(TEXT_BITS);

  /**
   * Splits a JSON string body, from `from` up to its closing quote (before `limit`), on escaped
   * tabs; the quote's index. A last field that starts with the escape `\n` is the kernel stack
   * (stackFrom, stackTo), not a field; `\n` escapes are accepted there only. -1 when the body holds
   * a byte outside ASCII, a newline, any other escape, too many fields, or no quote before `limit`:
   * the text path handles those.
   */
  split(buf: Buffer, from: number, limit: number): number {
    this.buf = buf;
    this.error = null;
    let n = 0;
    let s = from;
    let stack = -1;
    for (let i = from; i < limit; i++) {
      const k = BYTE_CLASS[buf[i]!]!;
      if (k === PLAIN) continue;
      if (k === QUOTE) {
        if (stack < 0) {
          this.start[n] = s;
          this.end[n++] = i;
        }
        this.stackFrom = stack;
        this.stackTo = i;
        this.n = n;
        return i;
      }
      if (k !== ESCAPE || i + 1 >= limit) return -1;
      const e = buf[i + 1];
      if (e === T) {
        if (n >= MAX_FIELDS - 1 || stack >= 0) return -1;
        this.start[n] = s;
        this.end[n++] = i;
        s = ++i + 1;
      } else if (e === N && (i === s || stack === s) && n >= 2) {
        stack = s;
        i++;
      } else {
        return -1;
      }
    }
    return -1;
  }

  /** A DataView of `buf` (the last one made, while the buffer is the same). */
  view(buf: Buffer): DataView<ArrayBufferLike> {
    if (buf !== this.viewed) {
      this.viewed = buf;
      this.dataView = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    }
    return this.dataView;
  }

  /** Whether field i is exactly `s` (ASCII). */
  is(i: number, s: Uint8Array): boolean {
    const from = this.start[i]!;
    if (this.end[i]! - from !== s.length) return false;
    for (let k = 0; k < s.length; k++) if (this.buf[from + k] !== s[k]) return false;
    return true;
  }

  /** A hash of field i's bytes (for routing by tag). */
  hash(i: number): number {
    return hashBytes(this.buf, this.start[i]!, this.end[i]!);
  }

  /** Field i as a string. */
  text(i: number): string {
    const from = this.start[i]!;
    const to = this.end[i]!;
    return this.intern(this.texts, this.buf, from, to, hashBytes(this.buf, from, to));
  }

  /** The cached string of the bytes (a hook: the decode worker records which slot it came from). */
  protected intern(cache: ByteStrings, buf: Buffer, from: number, to: number, hash: number): string {
    return cache.lookup(buf, from, to, hash);
  }

  number(i: number): number {
    return parseIntegerBytes(this.buf, this.start[i]!, this.end[i]!);
  }

  addr(i: number): Addr {
    const k = HEAD + i;
    if (k >= this.n) return this.reject() as Addr;
    const buf = this.buf;
    const from = this.start[k]!;
    const to = this.end[k]!;
    if (to - from <= 0 || to - from > 16) return this.reject() as Addr;
    let h = to - from;
    for (let j = from; j < to; j++) {
      const c = buf[j]!;
      if (!((c >= 48 && c <= 57) || (c >= 97 && c <= 102))) return this.reject() as Addr;
      h = Math.imul(h ^ c, 0x01000193);
    }
    return this.intern(this.addrs, buf, from, to, h) as Addr;
  }

  int(i: number): number {
    const k = HEAD + i;
    const v = k < this.n ? this.number(k) : NaN;
    if (Number.isNaN(v)) this.reject();
    return v;
  }

  bool(i: number): boolean {
    return this.int(i) !== 0;
  }

  str(i: number, rest = false): string {
    const k = HEAD + i;
    if (!rest || k >= this.n - 2) return k < this.n ? this.text(k) : '';
    const parts: string[] = [];
    for (let j = k; j < this.n - 1; j++) parts.push(this.text(j));
    return parts.join('\t');
  }

  protected reject(): string {
    this.error = REJECT;
    return '';
  }
}

export function hashBytes(buf: Uint8Array, from: number, to: number): number {
  let h = to - from;
  for (let i = from; i < to; i++) h = Math.imul(h ^ buf[i]!, 0x01000193);
  return h;
}

/** parseIntegerIn (fields.ts) on bytes: a decimal integer, optionally negative; NaN otherwise. */
function parseIntegerBytes(b: Uint8Array, from: number, to: number): number {
  const n = to - from;
  if (n <= 0 || n > 20) return NaN;
  let i = from;
  let neg = false;
  if (b[i] === 45) {
    if (n === 1) return NaN;
    neg = true;
    i++;
  }
  let v = 0;
  for (; i < to; i++) {
    const c = b[i]! - 48;
    if (c < 0 || c > 9) return NaN;
    v = v * 10 + c;
  }
  return neg ? -v : v;
}
