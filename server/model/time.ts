/**
 * Kernel time. bpftrace prints `nsecs` (CLOCK_MONOTONIC, ns since boot) as a decimal string; after
 * 104 days of uptime that no longer fits a double exactly. Inside lifetrace every time is therefore
 * a `Nanos`: ns relative to a per-capture `TimeBase` (whole seconds), which stays exact for any
 * capture shorter than 104 days. Absolute times are rebuilt as bigint only when reported.
 */
export type Nanos = number & { readonly __unit: 'ns' };

export const NS_PER_MS = 1_000_000;
export const NS_PER_S = 1_000_000_000;

export class TimeBase {
  private baseSec = -1;

  /** Whole seconds of kernel time that relative time 0 stands for (-1 until the first event). */
  get seconds(): number {
    return this.baseSec;
  }

  /** Takes the base another TimeBase chose (the decode worker's), before any time is read here. */
  adopt(seconds: number): void {
    this.baseSec = seconds;
  }

  /**
   * Parses a decimal ns string into relative Nanos without going through bigint (hot path).
   * Returns NaN when the string is not a plain decimal number.
   */
  parse(text: string, from = 0, to = text.length): Nanos {
    const n = to - from;
    if (n <= 0 || n > 20) return NaN as Nanos;
    const split = n > 9 ? to - 9 : from;
    const sec = split === from ? 0 : decimal(text, from, split);
    const ns = decimal(text, split, to);
    if (Number.isNaN(sec) || Number.isNaN(ns)) return NaN as Nanos; // never the time base
    if (this.baseSec < 0) this.baseSec = sec;
    return ((sec - this.baseSec) * NS_PER_S + ns) as Nanos;
  }

  /** Relative Nanos of a time already split into whole seconds and nanoseconds (see secondsOf). */
  fromParts(sec: number, ns: number): Nanos {
    if (Number.isNaN(sec) || Number.isNaN(ns)) return NaN as Nanos;
    if (this.baseSec < 0) this.baseSec = sec;
    return ((sec - this.baseSec) * NS_PER_S + ns) as Nanos;
  }

  /** The absolute kernel time of a relative time, as an exact decimal string. */
  absolute(t: Nanos): string {
    const base = this.baseSec < 0 ? 0n : BigInt(this.baseSec) * 1_000_000_000n;
    return (base + BigInt(Math.round(t))).toString();
  }
}

/** Digits of `s` in [from, to) as an integer; NaN on any non-digit. */
function decimal(s: string, from: number, to: number): number {
  let v = 0;
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return NaN;
    v = v * 10 + c;
  }
  return v;
}

/**
 * The whole seconds and the nanoseconds of a decimal ns time in ASCII bytes [from, to), as parse
 * splits it; NaN in either for anything but 1 to 20 digits.
 */
export function secondsOf(b: Uint8Array, from: number, to: number): number {
  const n = to - from;
  if (n <= 0 || n > 20) return NaN;
  return n > 9 ? decimalBytes(b, from, to - 9) : 0;
}

export function nanosOf(b: Uint8Array, from: number, to: number): number {
  const n = to - from;
  if (n <= 0 || n > 20) return NaN;
  return decimalBytes(b, n > 9 ? to - 9 : from, to);
}

function decimalBytes(b: Uint8Array, from: number, to: number): number {
  let v = 0;
  for (let i = from; i < to; i++) {
    const c = b[i]! - 48;
    if (c < 0 || c > 9) return NaN;
    v = v * 10 + c;
  }
  return v;
}

export function formatDuration(ns: number): string {
  if (ns >= NS_PER_S) return `${(ns / NS_PER_S).toFixed(3)} s`;
  if (ns >= NS_PER_MS) return `${(ns / NS_PER_MS).toFixed(3)} ms`;
  if (ns >= 1000) return `${(ns / 1000).toFixed(3)} us`;
  return `${ns} ns`;
}
