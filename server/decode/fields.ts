/**
 * Typed reads of a printf record's fields, straight from the JSON line: the fields are kept as
 * offsets into the line, numbers are parsed in place, and only addresses and names become
 * strings. A bad field does not throw (this is the hot path): it records the first problem in
 * `error`, and the dispatcher turns that into a counted anomaly.
 *
 * Every record is `tag  nsecs  cpu  pid  tid  <record fields...>  comm`, tab-separated; comm comes
 * last because it is the field most likely to hold odd characters (the contract: decode/README.md).
 */
import type { Addr } from '../model/events.js';
import type { Nanos } from '../model/time.js';

export const HEAD = 5; // tag, nsecs, cpu, pid, tid
export const MAX_FIELDS = 64;

/**
 * What a record's decoder (derived from its spec, decode/codec.ts) reads it through: the common
 * head, already parsed, and typed reads of the record fields (0 = first field after the head). A
 * bad field sets `error` instead of throwing. Readers: Fields (a JSON line as a string, any
 * record), ByteFields (the raw bytes of a plain record, the fast path), and the decode worker's
 * HoldingFields and PackedFields (decode/packed/).
 */
export interface RecordFields {
  readonly t: Nanos;
  readonly cpu: number;
  readonly pid: number;
  readonly tid: number;
  readonly comm: string;
  readonly lineNo: number;
  addr(i: number): Addr;
  int(i: number): number;
  bool(i: number): boolean;
  /** A string field; `rest` joins any extra fields, for names that contained a tab. */
  str(i: number, rest?: boolean): string;
}

/** The common head of the record being read (the Origin fields of the event a decoder builds). */
export abstract class RecordHead {
  t = 0 as Nanos;
  cpu = 0;
  pid = 0;
  tid = 0;
  comm = '';
  lineNo = 0;
}

export class Fields extends RecordHead implements RecordFields {
  line = '';
  /** Number of fields. */
  n = 0;
  /** Field i spans [start[i], end[i]) of `line`. */
  readonly start = new Int32Array(MAX_FIELDS);
  readonly end = new Int32Array(MAX_FIELDS);
  /** Bit i set: field i holds a JSON escape other than the separating tabs. */
  escaped = 0;
  error: string | null = null;
  /** The trailing stack field (decode/stacks.ts) spans [stackFrom, stackTo) of `line`; -1: none. */
  stackFrom = -1;
  stackTo = -1;

  /**
   * Splits the JSON string body [from, to) of `line` on escaped tabs (`\t`), visiting only the
   * backslashes (indexOf is vectorised; a record has a handful). False if there are too many fields.
   */
  split(line: string, from: number, to: number): boolean {
    this.line = line;
    this.escaped = 0;
    this.error = null;
    let n = 0;
    let s = from;
    for (let i = line.indexOf('\\', from); i !== -1 && i < to; i = line.indexOf('\\', i + 2)) {
      if (line.charCodeAt(i + 1) === 116 /* t */) {
        if (n >= MAX_FIELDS - 1) return false;
        this.start[n] = s;
        this.end[n++] = i;
        s = i + 2;
      } else if (n < 31) {
        this.escaped |= 1 << n;
      }
    }
    // A last field that starts with the escape \n is the kernel stack: it is not a record field.
    if (n >= 2 && line.charCodeAt(s) === 92 /* \\ */ && line.charCodeAt(s + 1) === 110 /* n */) {
      this.stackFrom = s;
      this.stackTo = to;
    } else {
      this.stackFrom = -1;
      this.start[n] = s;
      this.end[n++] = to;
    }
    this.n = n;
    return true;
  }

  /** Field i as a string (JSON escapes undone). */
  text(i: number): string {
    const raw = this.line.slice(this.start[i], this.end[i]);
    if (i >= 31 || (this.escaped & (1 << i)) === 0) return raw;
    try {
      return JSON.parse(`"${raw}"`) as string;
    } catch {
      return raw;
    }
  }

  /** Field i as a decimal integer (optionally negative), NaN otherwise. */
  number(i: number): number {
    return parseIntegerIn(this.line, this.start[i]!, this.end[i]!);
  }

  /** Record field i (0 = first field after the common head) as a kernel address. */
  addr(i: number): Addr {
    const k = HEAD + i;
    const s = this.start[k]!;
    const e = this.end[k]!;
    if (k >= this.n || !isHex(this.line, s, e))
      this.fail(`field ${i + 1} is not a hex address: ${JSON.stringify(k < this.n ? this.text(k) : undefined)}`);
    return this.line.slice(s, e) as Addr;
  }

  int(i: number): number {
    const k = HEAD + i;
    const v = k < this.n ? this.number(k) : NaN;
    if (Number.isNaN(v)) this.fail(`field ${i + 1} is not an integer: ${JSON.stringify(k < this.n ? this.text(k) : undefined)}`);
    return v;
  }

  bool(i: number): boolean {
    return this.int(i) !== 0;
  }

  /** A string field; `rest` joins any extra fields, for names that contained a tab. */
  str(i: number, rest = false): string {
    const k = HEAD + i;
    if (!rest || k >= this.n - 2) return k < this.n ? this.text(k) : '';
    const parts: string[] = [];
    for (let j = k; j < this.n - 1; j++) parts.push(this.text(j));
    return parts.join('\t');
  }

  private fail(why: string): void {
    if (this.error === null) this.error = why;
  }
}

function isHex(s: string, from: number, to: number): boolean {
  const n = to - from;
  if (n <= 0 || n > 16) return false;
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if (!((c >= 48 && c <= 57) || (c >= 97 && c <= 102))) return false;
  }
  return true;
}

/** Decimal integer in s[from, to), optionally negative; NaN for anything else. */
export function parseIntegerIn(s: string, from: number, to: number): number {
  const n = to - from;
  if (n <= 0 || n > 20) return NaN;
  let i = from;
  let neg = false;
  if (s.charCodeAt(i) === 45) {
    if (n === 1) return NaN;
    neg = true;
    i++;
  }
  let v = 0;
  for (; i < to; i++) {
    const c = s.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return NaN;
    v = v * 10 + c;
  }
  return neg ? -v : v;
}

/** CPU, pid and tid as the kernel has them: a CPU number below 65536, ids in 32 bits (NaN fails). */
export function plausibleOrigin(cpu: number, pid: number, tid: number): boolean {
  return cpu >= 0 && cpu < 65536 && pid >= 0 && pid <= 0xffffffff && tid >= 0 && tid <= 0xffffffff;
}
