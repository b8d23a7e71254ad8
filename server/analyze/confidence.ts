/**
 * A flag's confidence: certain, or uncertain with the reasons. Decided from the whole analysis at
 * the time it is asked (report, export, a live flag's detail), because a lost_events record can
 * arrive after the events it concerns.
 */
import type { LossLedger } from '../decode/losses.js';
import type { Flag } from '../rules/flags.js';

export type Confidence = 'certain' | 'uncertain';

/** Why a flag cannot be certain: events lost in its window, or its ordering rests on equal timestamps. */
export function uncertaintyOf(a: { readonly losses: LossLedger }, f: Flag): string[] {
  const why: string[] = [];
  const ts = f.evidence.map((e) => e.t);
  const from = Math.min(f.time, ...ts);
  const to = Math.max(f.lastTime, ...ts);
  const lost = a.losses.lostWithin(from, to);
  if (lost > 0) why.push(`${lost} kernel events were lost inside the evidence window`);
  for (const reason of a.losses.gapsWithin(from, to))
    why.push(`the probes were not running during part of the evidence window (${reason})`);
  for (let i = 1; i < f.evidence.length; i++) {
    const p = f.evidence[i - 1]!;
    const e = f.evidence[i]!;
    if (p.t === e.t && p.cpu !== e.cpu) {
      why.push(`events at line ${p.line} and ${e.line} have the same timestamp on different CPUs: their order is not known`);
      break;
    }
  }
  return why;
}

/** The confidence that a flag's uncertainty reasons give. */
export function confidenceOf(uncertainty: readonly string[]): Confidence {
  return uncertainty.length > 0 ? 'uncertain' : 'certain';
}
