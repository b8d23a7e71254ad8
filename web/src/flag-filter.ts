/** The flag filter: what the filter bar holds, as a predicate and as /api/flags query parameters. */
import type { FlagSummary, SeverityLevel } from '../../server/shared/wire.js';

export interface FlagFilter {
  host: string | null;
  /** A number matches a pid exactly; anything else is a substring of a comm (case matters, as on the server). */
  task: string;
  kind: string | null;
  rule: string | null;
  /** At or above this severity (as GET /api/flags?severity= does). */
  severity: SeverityLevel | null;
}

const RANK: Record<SeverityLevel, number> = { info: 0, warning: 1, error: 2 };

export const NO_FILTER: FlagFilter = { host: null, task: '', kind: null, rule: null, severity: null };

export function matchesFlag(f: FlagFilter, flag: FlagSummary): boolean {
  if (f.host !== null && flag.host !== f.host) return false;
  if (f.rule !== null && flag.rule !== f.rule) return false;
  if (f.severity !== null && RANK[flag.severity] < RANK[f.severity]) return false;
  if (f.kind !== null && !flag.kinds.includes(f.kind)) return false;
  const task = f.task.trim();
  if (task !== '') {
    if (/^\d+$/.test(task)) return flag.pids.includes(Number(task));
    return flag.comms.some((c) => c.includes(task));
  }
  return true;
}

/** The same filter for GET /api/flags. */
export function filterQuery(f: FlagFilter, limit: number): string {
  const q = new URLSearchParams();
  if (f.host !== null) q.set('host', f.host);
  if (f.rule !== null) q.set('rule', f.rule);
  if (f.severity !== null) q.set('severity', f.severity);
  if (f.kind !== null) q.set('kind', f.kind);
  const task = f.task.trim();
  if (task !== '') q.set(/^\d+$/.test(task) ? 'pid' : 'comm', task);
  q.set('limit', String(limit));
  return q.toString();
}

export function isEmpty(f: FlagFilter): boolean {
  return f.host === null && f.rule === null && f.severity === null && f.kind === null && f.task.trim() === '';
}

/** Newest first: by when the server raised them, then kernel time (as the server sorts), then id. */
export function byNewest(a: FlagSummary, b: FlagSummary): number {
  return b.wall - a.wall || b.time_s - a.time_s || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}
