/**
 * Typed reads of a printf record's fields. A bad field does not throw (this is the hot path): it
 * records the first problem in `error`, and the dispatcher turns that into a counted anomaly.
 *
 * Every record is `tag  nsecs  cpu  pid  tid  <record fields...>  comm`, tab-separated; comm comes
 * last because it is the field most likely to hold odd characters.
 */
import type { Addr, KernelEvent } from '../model/events.js';
import type { Nanos } from '../model/time.js';

export const HEAD = 5; // tag, nsecs, cpu, pid, tid

export class Fields {
  f: string[] = [];
  error: string | null = null;
  // The common head, parsed by the dispatcher (the Origin fields of the event being built).
  t = 0 as Nanos;
  cpu = 0;
  pid = 0;
  tid = 0;
  comm = '';
  line = 0;

  reset(f: string[], t: Nanos, cpu: number, pid: number, tid: number, line: number): this {
    this.f = f;
    this.error = null;
    this.t = t;
    this.cpu = cpu;
    this.pid = pid;
    this.tid = tid;
    this.comm = f[f.length - 1]!;
    this.line = line;
    return this;
  }

  /** Record field i (0 = first field after the common head). */
  addr(i: number): Addr {
    const s = this.f[HEAD + i];
    if (s === undefined || !isHex(s)) this.fail(`field ${i + 1} is not a hex address: ${JSON.stringify(s)}`);
    return s as Addr;
  }

  int(i: number): number {
    const s = this.f[HEAD + i];
    const v = s === undefined ? NaN : parseInteger(s);
    if (Number.isNaN(v)) this.fail(`field ${i + 1} is not an integer: ${JSON.stringify(s)}`);
    return v;
  }

  bool(i: number): boolean {
    return this.int(i) !== 0;
  }

  /** A string field; `rest` joins any extra fields, for names that contained a tab. */
  str(i: number, rest = false): string {
    if (!rest) return this.f[HEAD + i] ?? '';
    return this.f.slice(HEAD + i, this.f.length - 1).join('\t');
  }

  private fail(why: string): void {
    if (this.error === null) this.error = why;
  }
}

function isHex(s: string): boolean {
  const n = s.length;
  if (n === 0 || n > 16) return false;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (!((c >= 48 && c <= 57) || (c >= 97 && c <= 102))) return false;
  }
  return true;
}

/** Decimal integer, optionally negative; NaN for anything else. */
export function parseInteger(s: string): number {
  const n = s.length;
  if (n === 0 || n > 20) return NaN;
  let i = 0;
  let neg = false;
  if (s.charCodeAt(0) === 45) {
    neg = true;
    i = 1;
    if (n === 1) return NaN;
  }
  let v = 0;
  for (; i < n; i++) {
    const c = s.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return NaN;
    v = v * 10 + c;
  }
  return neg ? -v : v;
}

/**
 * One record type of a family: its tag, field count (after the head, before comm) and decoder.
 * Decoders build each event as one object literal listing the Origin fields: on this hot path a
 * spread (`{ ...o, kind }`) costs some 4 us a call against 20 ns for the literal.
 */
export interface RecordSpec {
  tag: string;
  /** Kernel function (or tracepoint) the record comes from, as shown in evidence. */
  fn: string;
  /** Number of record fields; a trailing string field may absorb extra fields when `variadic`. */
  fields: number;
  variadic?: boolean;
  decode(r: Fields, fn: string): KernelEvent;
}

export interface FamilyDecoder {
  family: import('../model/events.js').Family;
  records: readonly RecordSpec[];
}
