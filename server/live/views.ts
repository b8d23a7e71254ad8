/** From the analysis' structures to the wire views of server/shared/wire.ts (pure functions). */
import type { Analysis } from '../analyze/pipeline.js';
import type { Tracked } from '../lifetime/table.js';
import { eventFacts } from '../model/describe.js';
import type { Addr, KernelEvent } from '../model/events.js';
import { formatObject, OBJECT_KINDS, type ObjectKind } from '../model/objects.js';
import type { EvidenceView, FlagSummary, LifetimeView, LossMark, ObjectHistory, PhaseView } from '../shared/wire.js';
import { uncertaintyOf } from '../analyze/confidence.js';
import type { Flag } from '../rules/flags.js';
import type { EndedLifetime, LifetimeHistory } from './history.js';

/** Kernel time (relative Nanos) in seconds, to the ns. */
export const seconds = (t: number): number => Math.round(t) / 1e9;

export function flagSummary(a: Analysis, f: Flag, id: string, host: string, run: string, wall: number, raised: number): FlagSummary {
  const pids = new Set<number>();
  const comms = new Set<string>();
  for (const e of f.evidence) {
    pids.add(e.pid);
    comms.add(e.comm);
  }
  return {
    id,
    host,
    run,
    rule: f.rule,
    severity: f.severity,
    confidence: uncertaintyOf(a, f).length > 0 ? 'uncertain' : 'certain',
    count: f.count,
    time_s: seconds(f.time),
    last_s: seconds(f.lastTime),
    raised_s: seconds(raised),
    wall,
    objects: f.objects.map(formatObject),
    kinds: [...new Set(f.objects.map((o) => o.kind))],
    pids: [...pids],
    comms: [...comms],
    message: f.message,
  };
}

export function evidenceView(e: KernelEvent): EvidenceView {
  return { t_s: seconds(e.t), ...eventFacts(e) };
}

export function lossMarks(a: Analysis, host: string): LossMark[] {
  return a.losses.windows.map((w) => ({
    host,
    count: w.count,
    line: w.line,
    reason: w.reason ?? null,
    start_s: Number.isFinite(w.start) ? seconds(w.start) : null,
    end_s: Number.isFinite(w.end) ? seconds(w.end) : null,
  }));
}

const phaseView = (p: { phase: string; t: number; line: number; pid?: number; comm?: string }): PhaseView => ({
  phase: p.phase,
  t_s: seconds(p.t),
  line: p.line,
  pid: p.pid ?? null,
  comm: p.comm ?? null,
});

function liveView(o: Tracked): LifetimeView {
  return {
    id: formatObject(o),
    kind: o.kind,
    addr: `0x${o.addr}`,
    gen: o.gen,
    state: 'live',
    born_s: o.born ? seconds(o.born.t) : null,
    first_s: seconds(o.firstSeen),
    last_s: seconds(o.lastSeen),
    freed_s: null,
    phase: o.phase,
    phases: o.phases.map(phaseView),
    uses: o.uses,
  };
}

function endedView(o: EndedLifetime): LifetimeView {
  return {
    id: formatObject(o),
    kind: o.kind,
    addr: `0x${o.addr}`,
    gen: o.gen,
    state: 'freed',
    born_s: o.born === undefined ? null : seconds(o.born),
    first_s: seconds(o.first),
    last_s: seconds(o.last),
    freed_s: o.freed === undefined ? null : seconds(o.freed),
    phase: o.phase,
    phases: o.phases.map(phaseView),
    uses: o.uses,
  };
}

/** An address as a user types it: with or without 0x, any case. */
export function parseAddr(text: string): Addr | undefined {
  const hex = text
    .trim()
    .toLowerCase()
    .replace(/^0x/, '')
    .replace(/^0+(?=.)/, '');
  return /^[0-9a-f]{1,16}$/.test(hex) ? (hex as Addr) : undefined;
}

/** What is known about `addr`: per kind, the recently ended generations and the live one. */
export function objectHistories(
  a: Analysis,
  history: LifetimeHistory,
  host: string,
  addr: Addr,
  kinds: readonly ObjectKind[] = OBJECT_KINDS,
): ObjectHistory[] {
  const out: ObjectHistory[] = [];
  for (const kind of kinds) {
    const table = a.world.table(kind);
    const lifetimes = history.at(kind, addr).map(endedView);
    const live = table.get(addr);
    if (live !== undefined) lifetimes.push(liveView(live));
    if (lifetimes.length === 0 && table.tombstone(addr) === undefined) continue;
    out.push({ host, kind, addr: `0x${addr}`, generations: Math.max(table.generationsAt(addr), lifetimes.length), lifetimes });
  }
  return out;
}
