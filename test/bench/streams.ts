/** Shared by the live benchmarks: capture lines paced as a live host's would be, and peak RSS. */
import { readFileSync } from 'node:fs';
import { printfNsecs } from '../../server/decode/envelope.js';

export interface TimedLines {
  lines: string[];
  /** Kernel time (ns relative to the time base, as the server counts it) -> first line index. */
  lineAt: Map<number, number>;
}

/**
 * The lines with their kernel times stretched so that they happen at `rate` a second: paced at that
 * rate, kernel time then passes as fast as wall time, as on a live host (a generated capture is
 * denser than that, and the reorder hold is in kernel time). The time base is the first record's
 * second, as the server's TimeBase takes it.
 */
export function stretchToRate(input: readonly string[], rate: number): TimedLines {
  const times = input.map((l) => Number(printfNsecs(l) ?? NaN));
  let lo = Infinity;
  let hi = -Infinity;
  for (const t of times) {
    if (!Number.isFinite(t)) continue;
    lo = Math.min(lo, t);
    hi = Math.max(hi, t);
  }
  const k = ((input.length / rate) * 1e9) / (hi - lo);
  const first = times.find(Number.isFinite) ?? 0;
  const base = Math.floor(first / 1e9);
  const lineAt = new Map<number, number>();
  const lines = input.map((l, i) => {
    const t = times[i]!;
    if (!Number.isFinite(t)) return l;
    const t2 = Math.round(first + (t - first) * k);
    const rel = t2 - base * 1e9;
    if (!lineAt.has(rel)) lineAt.set(rel, i);
    return l.replace(`\\t${printfNsecs(l)!}\\t`, `\\t${t2}\\t`);
  });
  return { lines, lineAt };
}

/** A process's peak resident set so far, MB (VmHWM). */
export function peakRssMb(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Math.round(Number(m[1]) / 102.4) / 10 : NaN;
}
