/**
 * The flag filter: what the filter bar holds, as the FlagMatch that GET /api/flags takes (its
 * predicate and the flag order are server/shared/flag-query.ts, the server's own), and as the query.
 */
import type { FlagMatch } from '../../server/shared/flag-query.js';
import type { Severity } from '../../server/shared/severity.js';

export interface FlagFilter {
  host: string | null;
  /** A number matches a pid exactly; anything else is a substring of a comm (case matters, as on the server). */
  task: string;
  kind: string | null;
  rule: string | null;
  /** At or above this severity (as GET /api/flags?severity= does). */
  severity: Severity | null;
}

export const NO_FILTER: FlagFilter = { host: null, task: '', kind: null, rule: null, severity: null };

/** The filter as GET /api/flags takes it: an empty field does not filter, the task is a pid or a comm. */
export function flagMatch(f: FlagFilter): FlagMatch {
  const task = f.task.trim();
  const pid = /^\d+$/.test(task);
  return {
    host: f.host ?? undefined,
    rule: f.rule ?? undefined,
    severity: f.severity ?? undefined,
    kind: f.kind ?? undefined,
    pid: task !== '' && pid ? Number(task) : undefined,
    comm: task !== '' && !pid ? task : undefined,
  };
}

/** The same filter for GET /api/flags. */
export function filterQuery(f: FlagFilter, limit: number): string {
  const m = flagMatch(f);
  const q = new URLSearchParams();
  for (const k of ['host', 'rule', 'severity', 'kind', 'pid', 'comm'] as const) if (m[k] !== undefined) q.set(k, String(m[k]));
  q.set('limit', String(limit));
  return q.toString();
}

export function isEmpty(f: FlagFilter): boolean {
  return f.host === null && f.rule === null && f.severity === null && f.kind === null && f.task.trim() === '';
}
