/**
 * Turns a finished Analysis into the report object that `lifetrace analyze --json` prints and the
 * text report renders. Confidence is decided here, at the end (analyze/confidence.ts says why).
 */
import { confidenceOf, uncertaintyOf, type Confidence } from '../analyze/confidence.js';
import type { Analysis } from '../analyze/pipeline.js';
import { eventFacts } from '../model/describe.js';
import type { EventFacts } from '../shared/wire.js';
import type { KernelEvent } from '../model/events.js';
import { formatObject, OBJECT_KINDS, type ObjectKind } from '../model/objects.js';
import { NS_PER_S, type Nanos } from '../model/time.js';
import { mailingListLine, type Guard } from '../rules/rule.js';
import { severityRank, type Severity } from '../shared/severity.js';
import type { Anomaly } from '../decode/anomalies.js';

/** A step of a flag's evidence; `stack` (and `stack_at`) when the capture has kernel stacks. */
export interface EvidenceStep extends EventFacts {
  time: string;
  offset_s: number;
}

export interface FlagReport {
  rule: string;
  severity: Severity;
  confidence: Confidence;
  uncertainty: string[];
  time: string;
  offset_s: number;
  count: number;
  objects: string[];
  message: string;
  thread: string;
  /** Whether this kernel carries the rule's fix, and how lifetrace knows. */
  /** null when the rule names no fix (it flags documented behaviour). */
  guard: Guard | null;
  evidence: EvidenceStep[];
}

export interface KindReport {
  born: number;
  preexisting: number;
  freed: number;
  end_unseen: number;
  reused: number;
  live_at_end: number;
  peak_live: number;
  lifetime: { count: number; mean_ns: number; max_ns: number; p50_ns: number; p99_ns: number; log2_histogram: number[] };
}

export interface AnalysisReport {
  summary: {
    header: Record<string, unknown> | null;
    lines: number;
    events: number;
    records_by_family: Record<string, number>;
    duration_s: number;
    objects: Record<ObjectKind, KindReport>;
    flags_by_rule: Record<string, { flags: number; occurrences: number; dropped: number }>;
    flags_by_severity: Record<Severity, number>;
    attached_probes: number;
    diagnostics: { level: string; message: string; line: number }[];
    maps: Record<string, unknown>;
    anomaly_counts: Record<string, number>;
    input_error: string | null;
  };
  lost_events: number;
  loss_windows: { start: string; end: string; count: number; line: number; reason?: string }[];
  flags: FlagReport[];
  anomalies: Anomaly[];
}

export function buildReport(a: Analysis): AnalysisReport {
  const time = a.decoder.time;
  const abs = (t: Nanos): string => time.absolute(t);
  const off = (t: Nanos): number => Math.round(((t - (a.firstT ?? 0)) / NS_PER_S) * 1e9) / 1e9;

  const step = (e: KernelEvent): EvidenceStep => ({ time: abs(e.t), offset_s: off(e.t), ...eventFacts(e) });

  const flags = a.flags.all().map((f): FlagReport => {
    const uncertainty = uncertaintyOf(a, f);
    return {
      rule: f.rule,
      severity: f.severity,
      confidence: confidenceOf(uncertainty),
      uncertainty,
      time: abs(f.time),
      offset_s: off(f.time),
      count: f.count,
      objects: f.objects.map(formatObject),
      message: f.message,
      thread: mailingListLine(f.mailingList),
      guard: f.guard ? { ...f.guard } : null,
      evidence: f.evidence.map(step),
    };
  });
  flags.sort((x, y) => severityRank(y.severity) - severityRank(x.severity) || x.offset_s - y.offset_s || x.rule.localeCompare(y.rule));

  const objects = {} as Record<ObjectKind, KindReport>;
  for (const kind of OBJECT_KINDS) {
    const s = a.world.table(kind).summary;
    objects[kind] = {
      born: s.born,
      preexisting: s.preexisting,
      freed: s.freed,
      end_unseen: s.endUnseen,
      reused: s.reused,
      live_at_end: s.live,
      peak_live: s.peakLive,
      lifetime: {
        count: s.lifetimeCount,
        mean_ns: s.lifetimeCount ? Math.round(s.lifetimeSumNs / s.lifetimeCount) : 0,
        max_ns: s.lifetimeMaxNs,
        // A bucket's middle can lie past the longest lifetime in it: never say more than the max.
        p50_ns: Math.min(quantile(s.lifetimeHistogram, 0.5), s.lifetimeMaxNs),
        p99_ns: Math.min(quantile(s.lifetimeHistogram, 0.99), s.lifetimeMaxNs),
        log2_histogram: trimZeros(s.lifetimeHistogram),
      },
    };
  }

  const bySeverity: Record<Severity, number> = { info: 0, warning: 0, error: 0 };
  for (const f of flags) bySeverity[f.severity]++;
  const info = a.decoder.info;

  return {
    summary: {
      header: info.header ? { ...info.header } : null,
      lines: info.lines,
      events: a.events,
      records_by_family: { ...info.records },
      duration_s: a.firstT === undefined ? 0 : off(a.lastT!),
      objects,
      flags_by_rule: Object.fromEntries([...a.flags.perRule].map(([k, v]) => [k, { ...v }])),
      flags_by_severity: bySeverity,
      attached_probes: info.attachedProbes,
      diagnostics: info.diagnostics,
      maps: info.maps,
      anomaly_counts: Object.fromEntries(a.decoder.anomalies.counts),
      input_error: a.inputError ?? null,
    },
    lost_events: a.losses.total,
    loss_windows: a.losses.windows.map((w) => ({
      start: Number.isFinite(w.start) ? abs(w.start) : 'start',
      end: Number.isFinite(w.end) ? abs(w.end) : 'end',
      count: w.count,
      line: w.line,
      ...(w.reason !== undefined ? { reason: w.reason } : {}),
    })),
    flags,
    anomalies: a.decoder.anomalies.examples,
  };
}

function quantile(hist: number[], q: number): number {
  const total = hist.reduce((x, y) => x + y, 0);
  if (total === 0) return 0;
  let acc = 0;
  for (let i = 0; i < hist.length; i++) {
    acc += hist[i]!;
    if (acc >= q * total) return Math.round(2 ** (i + 0.5)); // the bucket's geometric middle
  }
  return 2 ** (hist.length - 1);
}

function trimZeros(h: number[]): number[] {
  let n = h.length;
  while (n > 0 && h[n - 1] === 0) n--;
  return h.slice(0, n);
}
