/**
 * What a dashboard takes from the broker, checked field by field before it reaches a session, the
 * REST API, the feed or /metrics: whoever can publish on the results and stats subjects (a broken
 * or hostile worker, a stray `nats pub`) gets a counted bad message, never a crash or a 500 on a
 * scrape. Each check returns a value of its type built of the fields it knows only (nothing else a
 * message carries goes on), or undefined.
 */
import { SEVERITIES } from '../shared/severity.js';
import type { FlagSummary, HostView, LossMark, StatsPoint } from '../shared/wire.js';
import type { StatsMessage } from '../fleet/results.js';

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const isStr = (v: unknown): v is string => typeof v === 'string';
const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
/** A count: a finite number, not negative (prom-client refuses anything else). */
const isCount = (v: unknown): v is number => isNum(v) && v >= 0;
const isStrs = (v: unknown): v is string[] => Array.isArray(v) && v.every(isStr);
const orNull = <T>(v: unknown, is: (x: unknown) => x is T): v is T | null => v === null || is(v);
/** A record of counts (anomalies by kind, rates by family, live objects by kind). */
const isCounts = (v: unknown): v is Record<string, number> => isObj(v) && Object.values(v).every(isCount);

function hostView(v: unknown): HostView | undefined {
  if (!isObj(v)) return undefined;
  const ok =
    isStr(v.host) &&
    isStr(v.run) &&
    (v.mode === 'live' || v.mode === 'replay') &&
    orNull(v.label, isStr) &&
    isStr(v.kernel) &&
    isStrs(v.families) &&
    Array.isArray(v.rules) &&
    v.rules.every((r) => isObj(r) && isStr(r.id) && (r.status === 'active' || r.status === 'degraded' || r.status === 'off')) &&
    typeof v.connected === 'boolean' &&
    typeof v.ended === 'boolean' &&
    isNum(v.connectedSince) &&
    orNull(v.lastBatchWall, isNum) &&
    isCount(v.events) &&
    isCount(v.lost) &&
    isCount(v.anomalies) &&
    isCounts(v.anomalyKinds) &&
    isCount(v.duplicates) &&
    isCount(v.missingBatches) &&
    isNum(v.now_s) &&
    orNull(v.failed, isStr);
  if (!ok) return undefined;
  const h = v as unknown as HostView;
  return {
    host: h.host,
    run: h.run,
    mode: h.mode,
    label: h.label,
    kernel: h.kernel,
    families: [...h.families],
    rules: h.rules.map((r) => ({ id: r.id, status: r.status })),
    connected: h.connected,
    ended: h.ended,
    connectedSince: h.connectedSince,
    lastBatchWall: h.lastBatchWall,
    events: h.events,
    lost: h.lost,
    anomalies: h.anomalies,
    anomalyKinds: { ...h.anomalyKinds },
    duplicates: h.duplicates,
    missingBatches: h.missingBatches,
    now_s: h.now_s,
    // The server's own, not the worker's: a fleet dashboard journals and records nothing.
    recording: null,
    journal: null,
    replay: null,
    failed: h.failed,
  };
}

function statsPoint(v: unknown, host: string): StatsPoint | undefined {
  if (!isObj(v)) return undefined;
  const ok = v.host === host && isNum(v.wall) && isNum(v.now_s) && isCounts(v.rate) && isCounts(v.live) && isCount(v.lost);
  if (!ok) return undefined;
  const p = v as unknown as StatsPoint;
  return { host, wall: p.wall, now_s: p.now_s, rate: { ...p.rate }, live: { ...p.live }, lost: p.lost };
}

/** A worker's stats message (lifetrace.stats.HOST). */
export function checkStats(v: unknown): StatsMessage | undefined {
  if (!isObj(v)) return undefined;
  const host = hostView(v.host);
  if (host === undefined || !isCount(v.runSeq)) return undefined;
  const point = statsPoint(v.point, host.host);
  return point === undefined ? undefined : { host, point, runSeq: v.runSeq };
}

/** A flag of `host`'s run `run` (lifetrace.flags.HOST). */
export function checkFlag(v: unknown, host: string, run: string): FlagSummary | undefined {
  if (!isObj(v)) return undefined;
  const ok =
    isStr(v.id) &&
    v.host === host &&
    v.run === run &&
    isStr(v.rule) &&
    (SEVERITIES as readonly unknown[]).includes(v.severity) &&
    (v.confidence === 'certain' || v.confidence === 'uncertain') &&
    isCount(v.count) &&
    isNum(v.time_s) &&
    isNum(v.last_s) &&
    isNum(v.raised_s) &&
    isNum(v.wall) &&
    isStrs(v.objects) &&
    isStrs(v.kinds) &&
    Array.isArray(v.pids) &&
    v.pids.every(isNum) &&
    isStrs(v.comms) &&
    isStr(v.message);
  if (!ok) return undefined;
  const f = v as unknown as FlagSummary;
  return {
    id: f.id,
    host,
    run,
    rule: f.rule,
    severity: f.severity,
    confidence: f.confidence,
    count: f.count,
    time_s: f.time_s,
    last_s: f.last_s,
    raised_s: f.raised_s,
    wall: f.wall,
    objects: [...f.objects],
    kinds: [...f.kinds],
    pids: [...f.pids],
    comms: [...f.comms],
    message: f.message,
  };
}

/** `host`'s loss windows (lifetrace.losses.HOST). */
export function checkLosses(v: unknown, host: string): LossMark[] | undefined {
  if (!Array.isArray(v)) return undefined;
  const ok = v.every(
    (l) =>
      isObj(l) &&
      l.host === host &&
      orNull(l.start_s, isNum) &&
      orNull(l.end_s, isNum) &&
      isCount(l.count) &&
      isNum(l.line) &&
      orNull(l.reason, isStr),
  );
  if (!ok) return undefined;
  return (v as LossMark[]).map((l) => ({ host, start_s: l.start_s, end_s: l.end_s, count: l.count, line: l.line, reason: l.reason }));
}
