/**
 * One object generation as trace events: an outer async slice for the whole lifetime and, nested in
 * it on the same track, one async slice per phase. Every object kind is a "process" (pids above the
 * kernel's PID_MAX_LIMIT, so they never collide with the task tracks), and every address a track
 * in it: the async id is the address, scoped to the kind's process, so the generations of a reused
 * address follow one another on one track.
 */
import type { KernelEvent } from '../model/events.js';
import { formatObject, OBJECT_KINDS, type ObjectKind } from '../model/objects.js';
import type { Nanos } from '../model/time.js';
import type { Tracked } from '../lifetime/table.js';
import { usec, type TraceEvent } from './trace-json.js';

/** The kernel's PID_MAX_LIMIT is 2^22; the synthetic processes live above it. */
const SYNTHETIC_PID_BASE = 1 << 23;

export const kindPid = (kind: ObjectKind): number => SYNTHETIC_PID_BASE + OBJECT_KINDS.indexOf(kind);
/** The capture itself (lost-event windows). */
export const CAPTURE_PID = SYNTHETIC_PID_BASE + OBJECT_KINDS.length;

/** process_name (and sort order) of the synthetic processes, written first. */
export function processMetadata(): TraceEvent[] {
  const named = (pid: number, name: string, sort: number): TraceEvent[] => [
    { ph: 'M', name: 'process_name', pid, tid: pid, args: { name } },
    { ph: 'M', name: 'process_sort_index', pid, tid: pid, args: { sort_index: sort } },
  ];
  return [
    ...OBJECT_KINDS.flatMap((k, i) => named(kindPid(k), `${k} objects`, i)),
    ...named(CAPTURE_PID, 'capture', OBJECT_KINDS.length),
    { ph: 'M', name: 'thread_name', pid: CAPTURE_PID, tid: CAPTURE_PID, args: { name: 'lost events' } },
  ];
}

/** How a generation's slice ends. */
export type LifetimeEnd =
  /** Freed: the free event ends it. */
  | { how: 'freed'; freed: KernelEvent }
  /** Its address was born again, or it was evicted: ends when it was last seen. */
  | { how: 'end-unseen' }
  /** Still live when the capture ended: closed at the last event time. */
  | { how: 'open-at-end'; t: Nanos };

/**
 * The events of one generation, in an order that nests properly when read in file order and when
 * stably sorted by ts: outer begin, then for each phase its begin and end (each phase ends where the
 * next begins, the last one where the lifetime ends), then outer end.
 *
 * Phases come from the World in application order, which is kernel-time order except for a record
 * that arrived after the reorder window (applied late, counted as an anomaly); starts are clamped
 * to be non-decreasing so a late record can never make slices overlap.
 */
export function lifetimeEvents(o: Tracked, end: LifetimeEnd): TraceEvent[] {
  const pid = kindPid(o.kind);
  const name = formatObject(o);
  const track = { cat: o.kind, pid, tid: pid, id2: { local: `0x${o.addr}` } };

  const starts: Nanos[] = [];
  let prev = o.firstSeen;
  for (const p of o.phases) starts.push((prev = Math.max(prev, p.t) as Nanos));
  const start = starts[0] ?? o.firstSeen;
  const endT = Math.max(end.how === 'freed' ? end.freed.t : end.how === 'open-at-end' ? end.t : o.lastSeen, prev);

  const args: Record<string, unknown> = {
    kind: o.kind,
    addr: `0x${o.addr}`,
    gen: o.gen,
    uses: o.uses,
    final_phase: o.phase,
    born_line: o.born?.line ?? null,
  };
  if (o.born === undefined) args.born_unseen = true;
  if (end.how === 'freed') args.freed_line = end.freed.line;
  if (end.how === 'end-unseen') args.end_unseen = true;
  if (end.how === 'open-at-end') args.open_at_end = true;

  const out: TraceEvent[] = [{ ph: 'b', name, ts: usec(start), ...track, args }];
  for (let i = 0; i < o.phases.length; i++) {
    const p = o.phases[i]!;
    const last = i === o.phases.length - 1;
    // The terminal 'freed' phase lasts no time: the outer slice's end already says it.
    if (last && end.how === 'freed' && p.phase === 'freed') break;
    const pname = p.phase;
    out.push({ ph: 'b', name: pname, ts: usec(starts[i]!), ...track, args: { line: p.line, pid: p.pid, comm: p.comm } });
    out.push({ ph: 'e', name: pname, ts: usec(last ? endT : starts[i + 1]!), ...track });
  }
  out.push({ ph: 'e', name, ts: usec(endT), ...track });
  return out;
}
