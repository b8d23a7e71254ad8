/**
 * An analysis worker thread (worker-pool.ts starts it): the HostSessions of the hosts assigned to
 * it, fed the batches the main thread received, in order. It reports flags, losses and the bytes it
 * has done after each message, the end of a stream with the host's final state, and answers samples
 * and drill-downs. It has no socket, no journal and no recording: those stay in the main thread.
 */
import { parentPort } from 'node:worker_threads';
import type { FlagSummary, LossMark } from '../shared/wire.js';
import { HostSession } from './host-session.js';
import { fromWireOptions, type AnalysisState, type Answer, type FromWorker, type Query, type ToWorker } from './worker-protocol.js';

/** How often quiet streams are settled (the hub's tick). */
const TICK_MS = 20;
/** Most often a session's state goes with its batches' reports. */
const STATE_EVERY_MS = 50;

const port = parentPort;
if (port === null) throw new Error('session-worker.ts runs as a worker thread (worker-pool.ts)');

interface Pending {
  flags: Map<string, FlagSummary>;
  losses: LossMark[] | undefined;
}

const sessions = new Map<number, HostSession>();
const pending = new Map<number, Pending>();
/** When each session's state was last sent. */
const stateSent = new Map<number, number>();

function pendingOf(sid: number): Pending {
  let p = pending.get(sid);
  if (p === undefined) pending.set(sid, (p = { flags: new Map(), losses: undefined }));
  return p;
}

const post = (m: FromWorker): void => port.postMessage(m);

/** Sessions whose state changed since it was last sent. */
const stale = new Set<number>();

/**
 * Sends what the sessions raised since the last report; `batch`: `sid` just took a batch of `done`
 * bytes. A session's state (its view and flag counts) goes with a report that carries flags or
 * losses, so a flag never shows before the events that raised it are counted; otherwise at most
 * every STATE_EVERY_MS (it costs a clone), and the last change always goes, from the tick if no
 * batch follows it.
 */
function flush(sid?: number, batch = false, done = 0): void {
  if (batch && sid !== undefined && sessions.has(sid)) stale.add(sid);
  const now = Date.now();
  const due = (id: number): boolean => now - (stateSent.get(id) ?? 0) >= STATE_EVERY_MS;
  const ids = new Set(pending.keys());
  if (batch && sid !== undefined) ids.add(sid);
  for (const id of stale) {
    if (!sessions.has(id)) stale.delete(id);
    else if (due(id)) ids.add(id);
  }
  for (const id of ids) {
    const p = pending.get(id);
    const mine = batch && id === sid;
    const s = sessions.get(id);
    const withState = s !== undefined && (p !== undefined || (stale.has(id) && due(id)));
    if (withState) {
      stale.delete(id);
      stateSent.set(id, now);
    }
    post({
      type: 'report',
      sid: id,
      flags: p === undefined ? [] : [...p.flags.values()],
      losses: p?.losses,
      batch: mine,
      done: mine ? done : 0,
      state: withState ? stateOf(s) : undefined,
    });
  }
  pending.clear();
}

function stateOf(s: HostSession): AnalysisState {
  const v = s.view();
  return {
    view: {
      events: v.events,
      lost: v.lost,
      anomalies: v.anomalies,
      anomalyKinds: v.anomalyKinds,
      missingBatches: v.missingBatches,
      now_s: v.now_s,
      ended: v.ended,
    },
    flagCounts: [...s.flagCounts()],
  };
}

function answer(q: Query): Answer {
  const s = sessions.get(q.sid);
  if (s === undefined) return undefined;
  switch (q.kind) {
    case 'sample':
      return { point: s.sample(q.now), ...stateOf(s) };
    case 'detail':
      return s.detail(q.flag);
    case 'objects':
      return s.objects(q.addr, q.kinds);
  }
}

function handle(m: ToWorker): void {
  if (m.type === 'request') {
    try {
      post({ type: 'reply', id: m.id, answer: answer(m.query) });
    } catch (e) {
      post({ type: 'failed', id: m.id, error: (e as Error).message });
    }
    return;
  }
  const sid = m.sid;
  if (m.type === 'open') {
    const session = new HostSession(
      m.identity,
      fromWireOptions(m.options),
      {
        flag: (f) => pendingOf(sid).flags.set(f.id, f),
        losses: (_h, l) => {
          pendingOf(sid).losses = l;
        },
      },
      Date.now,
    );
    session.connect(Date.now());
    sessions.set(sid, session);
    return;
  }
  if (m.type === 'drop') {
    sessions.delete(sid);
    pending.delete(sid);
    stateSent.delete(sid);
    stale.delete(sid);
    return;
  }
  const s = sessions.get(sid);
  if (s === undefined) return m.type === 'ingest' ? flush(sid, true, m.length) : undefined;
  try {
    apply(s, m);
  } catch (e) {
    // This session's analysis is broken (a bug): it stops, reported; the others on the thread go on.
    sessions.delete(sid);
    pending.delete(sid);
    post({ type: 'broken', sid, error: (e as Error).message });
    if (m.type === 'ingest') flush(sid, true, m.length);
  }
}

function apply(s: HostSession, m: Extract<ToWorker, { sid: number }>): void {
  const sid = m.sid;
  switch (m.type) {
    case 'ingest': {
      // The main thread checked the sequence (duplicates never come here); a restored journal's
      // batches come with theirs too, so gaps are recorded losses as in one thread.
      s.ingest(m.seq, new Uint8Array(m.lines, m.offset, m.length));
      return flush(sid, true, m.length);
    }
    case 'journal-damaged':
      return s.journalDamaged();
    case 'end':
      s.end(m.lastSeq);
      flush();
      return post({ type: 'ended', sid, state: stateOf(s) });
  }
}

port.on('message', handle);

setInterval(() => {
  const now = Date.now();
  for (const [sid, s] of sessions) {
    // Settling a quiet stream releases held records: its view changed with no batch to carry it.
    const before = s.events;
    s.tick(now);
    if (s.events !== before) stale.add(sid);
  }
  flush();
}, TICK_MS);
