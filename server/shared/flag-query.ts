/**
 * Which flags a view shows, and in what order: one implementation for GET /api/flags (the live
 * server) and the dashboard's filter bar, so the page and the server always agree.
 */
import { atLeast, type Severity } from './severity.js';
import type { FlagSummary } from './wire.js';

/** What GET /api/flags filters by; an absent field does not filter. */
export interface FlagMatch {
  host?: string | undefined;
  rule?: string | undefined;
  /** At or above this severity. */
  severity?: Severity | undefined;
  pid?: number | undefined;
  /** Substring of a task name in the evidence (case matters). */
  comm?: string | undefined;
  kind?: string | undefined;
}

export function matchesFlag(q: FlagMatch, f: FlagSummary): boolean {
  if (q.host !== undefined && f.host !== q.host) return false;
  if (q.rule !== undefined && f.rule !== q.rule) return false;
  if (q.severity !== undefined && !atLeast(f.severity, q.severity)) return false;
  if (q.pid !== undefined && !f.pids.includes(q.pid)) return false;
  const comm = q.comm;
  if (comm !== undefined && !f.comms.some((c) => c.includes(comm))) return false;
  if (q.kind !== undefined && !f.kinds.includes(q.kind)) return false;
  return true;
}

/** A flag's place in the order; where a page of flags ended (it holds even if that flag is gone since). */
export interface FlagCursor {
  wall: number;
  time_s: number;
  id: string;
}

/** Newest first: by when the server raised them, then kernel time, then id (a total order, so pages never overlap). */
export function byNewest(a: FlagCursor, b: FlagCursor): number {
  return b.wall - a.wall || b.time_s - a.time_s || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}
